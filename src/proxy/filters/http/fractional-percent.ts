/**
 * `envoy.type.v3.FractionalPercent` compiled to a probability, with Envoy's validation made strict: a numerator
 * above its denominator is a config error (Envoy silently clamps it to 100 %).
 */
import type { FractionalPercent } from '../../../xds/gen/envoy/type/v3/percent_pb.js';
import { FractionalPercent_DenominatorType as Denominator } from '../../../xds/gen/envoy/type/v3/percent_pb.js';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';

declareSupported('envoy.type.v3.FractionalPercent', ['numerator', 'denominator']);

/** The denominator's value (100, 10 000 or 1 000 000). */
export function denominatorValue(fp: FractionalPercent | undefined, path: string): number {
  switch (fp?.denominator ?? Denominator.HUNDRED) {
    case Denominator.HUNDRED: return 100;
    case Denominator.TEN_THOUSAND: return 10_000;
    case Denominator.MILLION: return 1_000_000;
    default: throw new ConfigError(joinPath(path, 'denominator'), 'must be HUNDRED, TEN_THOUSAND or MILLION');
  }
}

/** A probability in [0, 1]; `dflt` when the percent is unset. Over 100 % is a ConfigError at `path.numerator`. */
export function compileFractionalPercent(fp: FractionalPercent | undefined, path: string, dflt: number): number {
  if (fp === undefined) return dflt;
  const d = denominatorValue(fp, path);
  if (fp.numerator > d) throw new ConfigError(joinPath(path, 'numerator'), `${fp.numerator}/${d} is over 100 %`);
  return fp.numerator / d;
}
