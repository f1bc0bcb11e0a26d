import type { Config } from '../config/config-keys.js';
import type { BackupStore } from './backup-store.js';
import { LocalStore } from './local-store.js';
import { isS3Url, parseS3Url } from './s3-location.js';
import { S3Store } from './s3-store.js';

type StoreConfig = Pick<Config, 'backupDir' | 'backupStore' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle'>;

const s3Settings = (config: StoreConfig) => ({
  endpoint: config.s3Endpoint,
  region: config.s3Region,
  forcePathStyle: config.s3ForcePathStyle,
});

/** One client per store a process uses (an S3 client keeps its connections). */
const opened = new Map<string, BackupStore>();

function cached(key: string, open: () => BackupStore): BackupStore {
  let store = opened.get(key);
  if (!store) opened.set(key, (store = open()));
  return store;
}

/** The store new backups go to: `backupStore`, else the directory `backupDir`. */
export function configuredStore(config: StoreConfig): BackupStore {
  const root = config.backupStore ?? config.backupDir;
  if (!isS3Url(root)) return new LocalStore(root);
  return cached(JSON.stringify([root, s3Settings(config)]), () => new S3Store(root, s3Settings(config)));
}

/**
 * The store that holds a recorded location, whatever the store configured now: a file path is
 * read from the disk, an `s3://` location from its bucket with the configured S3 settings (the
 * configured store's own client when it is that bucket).
 */
export function storeOf(config: StoreConfig, location: string): BackupStore {
  const configured = configuredStore(config);
  if (configured.holds(location)) return configured;
  if (isS3Url(location)) {
    const bucket = `s3://${parseS3Url(location).bucket}`;
    return cached(JSON.stringify([bucket, s3Settings(config)]), () => new S3Store(bucket, s3Settings(config)));
  }
  return new LocalStore('/');
}

/** Whether new backups are encrypted: `backupEncryption`, else on exactly when the store is not local. */
export function encryptsBackups(config: StoreConfig & Pick<Config, 'backupEncryption'>): boolean {
  if (config.backupEncryption) return config.backupEncryption === 'on';
  return configuredStore(config).kind !== 'local';
}
