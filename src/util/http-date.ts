/** The current time as an HTTP date (`Tue, 15 Nov 1994 08:12:31 GMT`), recomputed at most once a second. */
let cached = '';
let cachedSecond = -1;
export function httpDate(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== cachedSecond) {
    cachedSecond = sec;
    cached = new Date(now).toUTCString();
  }
  return cached;
}
