import { UsageError } from './errors.js';

/**
 * The longest display name, plan and suspension reason the registry holds (its columns: 255, 64
 * and 1000 characters). Checked before anything is touched, so an overlong value is bad input
 * (exit 2) on every registry engine, never a half-done operation.
 */
export const TEXT_LIMITS = { name: 255, plan: 64, reason: 1000 } as const;

/** Throws a UsageError when `value` is longer than the registry holds for `field`. */
export function validateText(field: keyof typeof TEXT_LIMITS, value: string | null | undefined): void {
  if (value === null || value === undefined) return;
  const length = [...value].length; // characters, as the databases count them
  if (length > TEXT_LIMITS[field])
    throw new UsageError(`--${field} is ${length} characters long; at most ${TEXT_LIMITS[field]} are kept`);
}
