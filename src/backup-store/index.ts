export type { BackupStore, StoreWriter, StoredObject, LeftoverUpload } from './backup-store.js';
export { LocalStore, partialFileFor } from './local-store.js';
export { S3Store, S3_PART_SIZE } from './s3-store.js';
export { configuredStore, storeOf, encryptsBackups } from './open-store.js';
export { isS3Url, parseS3Url } from './s3-location.js';
