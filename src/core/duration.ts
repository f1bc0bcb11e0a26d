import { UsageError } from './errors.js';

/** How a kind of duration is written: its units (in ms), the unit of a bare number, examples for errors. */
export interface DurationSyntax {
  units: Record<string, number>;
  bare: string;
  examples: string;
}

/** Timeouts and pauses: `500ms`, `5s`, `2m`, `1h`; a bare number is milliseconds. */
const SPAN: DurationSyntax = {
  units: { ms: 1, s: 1000, m: 60_000, h: 3_600_000 },
  bare: 'ms',
  examples: '500ms, 5s, 2m, 1h or a number of milliseconds',
};

/** Ages, as doctor's limits take them: `1d`, `36h`, `90m`; a bare number is hours. */
export const AGE: DurationSyntax = {
  units: { m: 60_000, h: 3_600_000, d: 86_400_000 },
  bare: 'h',
  examples: '1d, 36h, 90m or a number of hours',
};

/**
 * Parses a duration as flags and the config file give it, into milliseconds: by default `500ms`,
 * `5s`, `2m`, `1h`, `1.5s`, or a plain number of milliseconds; `syntax` (AGE) for other units.
 * Throws a UsageError naming `label` for anything else.
 */
export function parseDuration(text: string | number, label = 'duration', syntax: DurationSyntax = SPAN): number {
  if (typeof text === 'number') {
    if (Number.isFinite(text) && text >= 0) return Math.round(text * syntax.units[syntax.bare]!);
  } else {
    // Longest unit first: `ms` before `m`.
    const units = Object.keys(syntax.units).sort((a, b) => b.length - a.length);
    const match = new RegExp(`^\\s*(\\d+(?:\\.\\d+)?)\\s*(${units.join('|')})?\\s*$`).exec(text);
    if (match) return Math.round(Number(match[1]) * syntax.units[match[2] ?? syntax.bare]!);
  }
  throw new UsageError(`${label}: expected a duration such as ${syntax.examples}, got ${JSON.stringify(text)}`);
}

/** A duration for people: `850ms`, `5s`, `2m 30s`, `1h 5m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes}m ${seconds % 60}s` : `${minutes}m`;
  return minutes % 60 ? `${Math.floor(minutes / 60)}h ${minutes % 60}m` : `${Math.floor(minutes / 60)}h`;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
