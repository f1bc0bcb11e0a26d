/** Secrets: rotating the registry's secret key and tenants' database passwords. */
export { rotateKey, interruptedRotation, type RotateKeyOptions, type RotateKeyResult } from './rotate-key.js';
export {
  rotatePasswords,
  rotateTenantPassword,
  type RotatePasswordOptions,
  type RotatePasswordResult,
  type PasswordRotationOutcome,
} from './rotate-password.js';
