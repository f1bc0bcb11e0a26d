// Schema drift across the fleet: structures read, fingerprinted, grouped into variants (schema diff).
export { schemaDiff, type SchemaDiffOptions, type SchemaDiffResult, type SchemaVariant } from './schema-diff.js';
export type { StructureDifference } from './structure-diff.js';
