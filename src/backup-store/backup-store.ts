import type { Readable, Writable } from 'node:stream';

/**
 * One dump on its way into the store. Nothing is visible under its location until `complete()`:
 * a local file is written under a temporary name and renamed, an S3 object is a multipart upload
 * whose end is held back (so S3 completes it only then). `abort()` leaves nothing behind.
 */
export interface StoreWriter {
  /** Where the dump is written; ending it publishes nothing. */
  readonly input: Writable;
  /** Settles once everything written to `input` was taken (its end reached), or the store failed. */
  readonly received: Promise<void>;
  complete(): Promise<void>;
  abort(reason: Error): Promise<void>;
}

/** What a store holds at a location. */
export interface StoredObject {
  location: string;
  bytes: number;
}

/** A multipart upload tenantctl started and never completed or aborted (a killed backup). */
export interface LeftoverUpload {
  location: string;
  uploadId: string;
  startedAt: string | null;
}

/**
 * Where backups are kept: a local directory or an S3 bucket (and prefix). Locations are full
 * (an absolute path, or `s3://bucket/key`), so a backup record names where its file is whatever
 * the store configured now.
 */
export interface BackupStore {
  readonly kind: 'local' | 's3';
  /** The store as configured: a directory or `s3://bucket/prefix`. */
  readonly root: string;
  /** The location of `name` under `slug`'s folder. */
  locationFor(slug: string, name: string): string;
  /** Whether `location` is in this store. */
  holds(location: string): boolean;
  exists(location: string): Promise<boolean>;
  stat(location: string): Promise<StoredObject | undefined>;
  write(location: string): Promise<StoreWriter>;
  /** The stored bytes, streamed; fails (NotFoundError) when there are none. */
  read(location: string): Promise<Readable>;
  /** Removes the object; one already gone is fine. */
  remove(location: string): Promise<void>;
  /** Every object under `slug`'s folder (or the whole store), streamed page by page. */
  list(slug?: string): Promise<StoredObject[]>;
  /** Reaches the store and writes and removes a probe object: why it cannot be used, or undefined. */
  probe(): Promise<string | undefined>;
  /** Uploads begun and never finished (none for a local store, whose partial files are tracked by record). */
  leftoverUploads(): Promise<LeftoverUpload[]>;
  abortUpload(upload: LeftoverUpload): Promise<void>;
}
