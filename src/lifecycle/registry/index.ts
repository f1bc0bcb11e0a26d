/** The registry's own operations: `init`, and the audit log every command writes and `log` reads. */
export { initRegistry, type InitResult } from './init-registry.js';
export { recordAudit, readAuditLog, maskArguments, type AuditEntry, type AuditRecord } from './audit-log.js';
export { restoreRegistry, type RestoreRegistryResult } from './restore-registry.js';
export { completionNames, type CompletionNames } from './completion-names.js';
