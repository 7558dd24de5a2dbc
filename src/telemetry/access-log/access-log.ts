import { readFileSync } from 'node:fs';
import type { Registry } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import type { AccessLog } from '../../xds/gen/envoy/config/accesslog/v3/accesslog_pb.js';
import type { DataSource } from '../../xds/gen/envoy/config/core/v3/base_pb.js';
import type { SubstitutionFormatString } from '../../xds/gen/envoy/config/core/v3/substitution_format_string_pb.js';
import type { FileAccessLog } from '../../xds/gen/envoy/extensions/access_loggers/file/v3/file_pb.js';
import type { StderrAccessLog, StdoutAccessLog } from '../../xds/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.js';
import type { StreamInfo } from '../../proxy/http/stream-info.ts';
import { StatsStore, type StatsScope } from '../stats.ts';
import { compileAccessLogFilter, type LogPredicate } from './access-log-filter.ts';
import { compileFormatString, DEFAULT_FORMAT, type Formatter } from './format-string.ts';
import { compileJsonFormat } from './json-format.ts';
import { acquireLogSink, type LogSinkHandle } from './log-sink.ts';

/**
 * Compiles `access_log` lists (HTTP connection manager, TCP proxy, …) into loggers. Each logger owns
 * a compiled filter and formatter and a handle on a shared, batching sink; `log()` formats one line
 * and queues it, nothing more.
 */

const FILE_ACCESS_LOG = 'envoy.extensions.access_loggers.file.v3.FileAccessLog';
const STDOUT_ACCESS_LOG = 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR_ACCESS_LOG = 'envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

declareSupported('envoy.config.accesslog.v3.AccessLog', ['name', 'filter', 'typed_config']);
declareSupported(FILE_ACCESS_LOG, ['path', 'format', 'json_format', 'typed_json_format', 'log_format']);
declareSupported(STDOUT_ACCESS_LOG, ['log_format']);
declareSupported(STDERR_ACCESS_LOG, ['log_format']);
// content_type only matters where the format renders an HTTP body (local replies), not for access logs;
// it is accepted so one SubstitutionFormatString can serve both.
declareSupported('envoy.config.core.v3.SubstitutionFormatString', [
  'text_format', 'json_format', 'text_format_source', 'omit_empty_values', 'content_type', 'json_format_options',
]);
declareSupported('envoy.config.core.v3.JsonFormatOptions', ['sort_properties']);
declareSupported('envoy.config.core.v3.DataSource', ['inline_string', 'inline_bytes', 'filename']);

/** A compiled access log. */
export interface AccessLogger {
  /** The `name` of the access log config (may be empty). */
  readonly name: string;
  /** Logs a finished stream if the filter accepts it. Never throws, never blocks. */
  log(info: StreamInfo): void;
  /** Flushes buffered lines and releases the sink. Idempotent. */
  close(): Promise<void>;
}

/** Where loggers count what they drop. */
export interface AccessLogOptions {
  /** Receives `access_log.dropped` and `access_log.write_failed`. Default: a private store. */
  stats?: StatsStore | StatsScope;
  /** Sink buffer bound in bytes (default 16 MiB); lines beyond it are dropped and counted. */
  maxBufferedBytes?: number;
}

class SinkLogger implements AccessLogger {
  readonly name: string;
  private readonly filter: LogPredicate | null;
  private readonly format: Formatter;
  private readonly handle: LogSinkHandle;
  constructor(name: string, filter: LogPredicate | null, format: Formatter, handle: LogSinkHandle) {
    this.name = name;
    this.filter = filter;
    this.format = format;
    this.handle = handle;
  }
  log(info: StreamInfo): void {
    if (this.filter !== null && !this.filter(info)) return;
    this.handle.write(this.format(info));
  }
  close(): Promise<void> { return this.handle.release(); }
}

/**
 * Compiles `accessLogs` (field path `path`, e.g. `…http_connection_manager.access_log`). `registry`
 * resolves the typed_config Any messages. Throws ConfigError on anything invalid or unsupported; on
 * error, sinks already opened for this list are released.
 */
export function compileAccessLogs(accessLogs: readonly AccessLog[], path: string, registry: Registry, opts: AccessLogOptions = {}): AccessLogger[] {
  const stats = opts.stats ?? new StatsStore();
  const sinkOpts = {
    dropped: stats.counter('access_log.dropped'),
    writeFailed: stats.counter('access_log.write_failed'),
    maxBufferedBytes: opts.maxBufferedBytes,
  };
  const out: AccessLogger[] = [];
  try {
    accessLogs.forEach((al, i) => {
      const p = joinPath(path, i);
      const filter = al.filter ? compileAccessLogFilter(al.filter, joinPath(p, 'filter')) : null;
      if (al.configType.case !== 'typedConfig') throw new ConfigError(p, 'typed_config is required');
      const tcPath = joinPath(p, 'typed_config');
      const any = al.configType.value;
      const msg = anyUnpack(any, registry);
      if (!msg) throw new ConfigError(tcPath, `unknown access logger type '${any.typeUrl}'`);
      let sinkPath: string;
      let format: Formatter;
      switch (msg.$typeName) {
        case FILE_ACCESS_LOG: {
          const fal = msg as FileAccessLog;
          if (fal.path === '') throw new ConfigError(joinPath(tcPath, 'path'), 'path is required');
          sinkPath = fal.path;
          format = compileFileFormat(fal, tcPath);
          break;
        }
        case STDOUT_ACCESS_LOG:
        case STDERR_ACCESS_LOG: {
          const s = msg as StdoutAccessLog | StderrAccessLog;
          sinkPath = msg.$typeName === STDOUT_ACCESS_LOG ? '/dev/stdout' : '/dev/stderr';
          format = s.accessLogFormat.case === 'logFormat'
            ? compileSubstitutionFormat(s.accessLogFormat.value, joinPath(tcPath, 'log_format'))
            : compileFormatString(DEFAULT_FORMAT, tcPath);
          break;
        }
        default:
          throw new ConfigError(tcPath, `access logger '${msg.$typeName}' is not supported (supported: file, stdout, stderr)`);
      }
      out.push(new SinkLogger(al.name, filter, format, acquireLogSink(sinkPath, joinPath(tcPath, 'path'), sinkOpts)));
    });
  } catch (e) {
    for (const l of out) void l.close();
    throw e;
  }
  return out;
}

function compileFileFormat(fal: FileAccessLog, path: string): Formatter {
  const f = fal.accessLogFormat;
  switch (f.case) {
    case 'logFormat': return compileSubstitutionFormat(f.value, joinPath(path, 'log_format'));
    case 'format': return compileFormatString(f.value, joinPath(path, 'format'));
    // The deprecated json_format renders every value as a string; typed_json_format keeps types.
    case 'jsonFormat': return compileJsonFormat(f.value, joinPath(path, 'json_format'), { typed: false });
    case 'typedJsonFormat': return compileJsonFormat(f.value, joinPath(path, 'typed_json_format'), { typed: true });
    default: return compileFormatString(DEFAULT_FORMAT, path);
  }
}

/** Compiles an envoy.config.core.v3.SubstitutionFormatString (text or JSON). */
export function compileSubstitutionFormat(sfs: SubstitutionFormatString, path: string): Formatter {
  const omitEmptyValues = sfs.omitEmptyValues;
  if (sfs.formatters.length > 0) throw new ConfigError(joinPath(path, 'formatters'), 'formatter extensions are not supported');
  const f = sfs.format;
  switch (f.case) {
    case 'textFormat': return compileFormatString(f.value, joinPath(path, 'text_format'), { omitEmptyValues });
    case 'textFormatSource': {
      const p = joinPath(path, 'text_format_source');
      return compileFormatString(readDataSource(f.value, p), p, { omitEmptyValues });
    }
    case 'jsonFormat':
      return compileJsonFormat(f.value, joinPath(path, 'json_format'), {
        typed: true,
        omitEmptyValues,
        sortProperties: sfs.jsonFormatOptions?.sortProperties ?? false,
      });
    default:
      throw new ConfigError(path, 'one of text_format, text_format_source or json_format is required');
  }
}

/** The text of a DataSource, read at config time. */
function readDataSource(ds: DataSource, path: string): string {
  const s = ds.specifier;
  switch (s.case) {
    case 'inlineString': return s.value;
    case 'inlineBytes': return new TextDecoder().decode(s.value);
    case 'filename':
      try {
        return readFileSync(s.value, 'utf8');
      } catch (e) {
        throw new ConfigError(joinPath(path, 'filename'), `cannot read '${s.value}': ${(e as Error).message}`);
      }
    default:
      throw new ConfigError(path, 'a data source must set inline_string, inline_bytes or filename');
  }
}
