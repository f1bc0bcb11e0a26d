import { describe, expect, it } from 'vitest';
import { AGE, formatDuration, parseDuration } from '../../src/core/duration.js';
import { UsageError } from '../../src/core/errors.js';

describe('parseDuration', () => {
  it.each([
    ['5s', 5000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['250ms', 250],
    ['1500', 1500],
    ['1.5s', 1500],
    [' 3s ', 3000],
    ['0', 0],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('takes a number of milliseconds from a config file', () => {
    expect(parseDuration(750)).toBe(750);
  });

  it.each(['', 's', '5 sec', '-1s', '5d', '1e3', 'abc', '5s5'])('rejects %j, naming the flag', (text) => {
    expect(() => parseDuration(text, '--pause')).toThrow(UsageError);
    expect(() => parseDuration(text, '--pause')).toThrow(/--pause/);
  });

  it('rejects negative and non-finite numbers', () => {
    expect(() => parseDuration(-5)).toThrow(UsageError);
    expect(() => parseDuration(Number.NaN)).toThrow(UsageError);
  });
});

describe('parseDuration with AGE (doctor --backup-max-age, --password-max-age)', () => {
  const HOUR = 3_600_000;
  it.each([
    ['1d', 24 * HOUR],
    ['365d', 365 * 24 * HOUR],
    ['36h', 36 * HOUR],
    ['90m', 1.5 * HOUR],
    ['0m', 0],
    ['36', 36 * HOUR],
    ['0', 0],
    ['1.5d', 36 * HOUR],
    [' 2d ', 48 * HOUR],
  ])('reads %j as %d ms (a bare number is hours)', (text, ms) => {
    expect(parseDuration(text, '--backup-max-age', AGE)).toBe(ms);
  });

  it.each(['', 'd', '5s', '250ms', '-1d', '1w', '1e3', 'abc', '1d2h'])('rejects %j, naming the flag', (text) => {
    expect(() => parseDuration(text, '--backup-max-age', AGE)).toThrow(UsageError);
    expect(() => parseDuration(text, '--backup-max-age', AGE)).toThrow(/--backup-max-age.*1d, 36h, 90m/);
  });
});

describe('formatDuration', () => {
  it.each([
    [850, '850ms'],
    [5000, '5s'],
    [150_000, '2m 30s'],
    [120_000, '2m'],
    [3_900_000, '1h 5m'],
  ])('shows %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
