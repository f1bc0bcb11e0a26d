import { errorMessage, networkReason, type UnreachableReason } from '../core/errors.js';
import type { EngineDriver } from './engine-driver.js';
import type { ServerSpec } from './server-spec.js';

/** Why a connection failed, with the one line to say after it (undefined: the driver's message). */
export interface ConnectFailure {
  reason: UnreachableReason;
  detail?: string;
}

/**
 * Node's codes for a certificate that did not pass (OpenSSL's verify results, and the name
 * check's): the server answered TLS, tenantctl would not trust it.
 */
const CERTIFICATE_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
]);

const errorCode = (error: unknown): string => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
};

/**
 * Node's words for the same, for drivers that replace the code (mysql2: HANDSHAKE_SSL_ERROR). An
 * alert from the server about a certificate (`tlsv13 alert certificate required`) is not one: the
 * server refused the handshake.
 */
const CERTIFICATE_WORDS =
  /self[- ]signed certificate|unable to (verify|get) .*(certificate|issuer)|certificate (has expired|is not yet valid|signature failure)|does not match certificate's altnames/i;

/** A handshake that failed below the certificate: protocol versions, ciphers, an alert from the server. */
const isHandshakeError = (error: unknown) => {
  const code = errorCode(error);
  return (
    code.startsWith('ERR_SSL_') || /\bSSL routines\b|ssl3_|tlsv1 alert|wrong version number/i.test(errorMessage(error))
  );
};

/**
 * Classifies a driver's error while connecting: connection refused, timed out, host not found,
 * TLS refused, certificate rejected, login refused; `unavailable` only when it is none of these.
 */
export function connectFailure(driver: EngineDriver, spec: ServerSpec, error: unknown, name?: string): ConnectFailure {
  const message = errorMessage(error).split('\n')[0]!;
  const code = errorCode(error);
  if (CERTIFICATE_CODES.has(code) || CERTIFICATE_WORDS.test(message))
    return {
      reason: 'certificate rejected',
      detail: /altnames/.test(message)
        ? `${message} (connect by a name the certificate carries, or use verify-ca)`
        : `${message} (check the CA file the URL names)`,
    };
  if (driver.isTlsRefused(error))
    return { reason: 'TLS refused', detail: `${message} (the server has TLS off: use a plain mode or turn it on)` };
  if (isHandshakeError(error)) return { reason: 'TLS refused', detail: message };
  if (name && !spec.password && driver.isPasswordRequired(error))
    return {
      reason: 'login refused',
      detail: `the server asks for a password and none is stored (tenantctl server update ${name ?? '<name>'} --password-stdin)`,
    };
  if (driver.isTlsRequired(error))
    return {
      reason: 'login refused',
      detail: `${message} (the server takes this login over TLS only: add sslmode=require or stricter to the URL)`,
    };
  const network = networkReason(error);
  if (network) return { reason: network };
  if (driver.isLoginError(error)) return { reason: 'login refused' };
  return { reason: 'unavailable' };
}
