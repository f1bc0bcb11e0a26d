import { Transform, type TransformCallback } from 'node:stream';
import { ToolError } from './run-tool.js';

/**
 * Passes a stream through unchanged and fails at its end unless the last bytes contain
 * `marker`: how a mysqldump that died half-way (exit 0 or not) is told from a complete one.
 */
export function requireTrailer(marker: string, what: string): Transform {
  let tail = '';
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      tail = (tail + chunk.toString('latin1')).slice(-(marker.length + 256));
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      callback(tail.includes(marker) ? null : new ToolError(`${what} is incomplete: it does not end with "${marker}"`));
    },
  });
}

/** Discards everything: for reading a stream only to check it. */
export function sink(): Transform {
  return new Transform({
    transform(_chunk, _encoding, callback) {
      callback();
    },
  });
}
