import { createRequire } from 'node:module';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { NotFoundError, errorMessage } from '../core/errors.js';
import type { BackupStore, LeftoverUpload, StoreWriter, StoredObject } from './backup-store.js';
import { parseS3Url, s3Url, type S3Location } from './s3-location.js';

export interface S3Settings {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

const require = createRequire(import.meta.url);
type S3Sdk = typeof import('@aws-sdk/client-s3') & typeof import('@aws-sdk/lib-storage');
let loadedSdk: S3Sdk | undefined;

/**
 * The AWS SDK, loaded the first time a store on S3 is opened: it costs a third of a second of
 * start-up, which every command not touching S3 (list, migrate-all) would otherwise pay. Both
 * packages ship CommonJS, so the load is synchronous and the stores' API stays as it is.
 */
function s3Sdk(): S3Sdk {
  loadedSdk ??= {
    ...(require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3')),
    ...(require('@aws-sdk/lib-storage') as typeof import('@aws-sdk/lib-storage')),
  };
  return loadedSdk;
}

/** Part size of a multipart upload: memory held per upload is partSize × QUEUE. */
export const S3_PART_SIZE = 8 * 1024 * 1024;
const QUEUE = 2;

/**
 * Passes bytes through but holds its end back until `release()`: the upload reading it sees the
 * end (and completes the object) only once the dump is known to be whole; `reached` settles when
 * the end was reached.
 */
class HeldEnd extends Transform {
  private releaseEnd?: (error?: Error) => void;
  readonly reached: Promise<void>;
  private markReached!: () => void;

  constructor() {
    super();
    this.reached = new Promise((resolve) => (this.markReached = resolve));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.releaseEnd = (error) => callback(error);
    this.markReached();
  }

  release(): void {
    this.releaseEnd?.();
  }
}

const notFound = (error: unknown) => {
  const name = (error as { name?: string }).name;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return name === 'NoSuchKey' || name === 'NotFound' || status === 404;
};

/**
 * Backups as objects under `s3://bucket/prefix/<slug>/<name>`, written by multipart upload
 * straight from the dump. Credentials come only from the AWS SDK's default chain (environment,
 * shared config and credentials files, instance or task role): tenantctl never stores or prints them.
 */
export class S3Store implements BackupStore {
  readonly kind = 's3' as const;
  readonly root: string;
  private readonly base: S3Location;
  private readonly client: S3Client;
  private readonly sdk = s3Sdk();

  constructor(url: string, settings: S3Settings) {
    this.base = parseS3Url(url);
    this.root = s3Url(this.base).replace(/\/$/, '');
    // tenantctl pins an SDK release line that supports Node 20: its warning about later releases
    // (on stderr of every command) is not the operator's business.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new this.sdk.S3Client({
      region: settings.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      forcePathStyle: settings.forcePathStyle ?? false,
      // S3-compatible stores do not all know the newer default checksums: only where required.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    });
  }

  private keyOf(location: string): string {
    const parsed = parseS3Url(location);
    if (parsed.bucket !== this.base.bucket) throw new Error(`${location} is not in bucket ${this.base.bucket}`);
    return parsed.key;
  }

  private prefixed(path: string): string {
    return this.base.key ? `${this.base.key}/${path}` : path;
  }

  locationFor(slug: string, name: string): string {
    return s3Url({ bucket: this.base.bucket, key: this.prefixed(`${slug}/${name}`) });
  }

  holds(location: string): boolean {
    try {
      const parsed = parseS3Url(location);
      return parsed.bucket === this.base.bucket && (!this.base.key || parsed.key.startsWith(`${this.base.key}/`));
    } catch {
      return false;
    }
  }

  async exists(location: string): Promise<boolean> {
    return (await this.stat(location)) !== undefined;
  }

  async stat(location: string): Promise<StoredObject | undefined> {
    try {
      const head = await this.client.send(
        new this.sdk.HeadObjectCommand({ Bucket: this.base.bucket, Key: this.keyOf(location) }),
      );
      return { location, bytes: Number(head.ContentLength ?? 0) };
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  async write(location: string): Promise<StoreWriter> {
    const body = new HeldEnd();
    const upload = new this.sdk.Upload({
      client: this.client,
      params: { Bucket: this.base.bucket, Key: this.keyOf(location), Body: body },
      partSize: S3_PART_SIZE,
      queueSize: QUEUE,
      leavePartsOnError: false,
    });
    const done = upload.done();
    done.catch(() => undefined); // awaited by complete(); a failure before that shows in `received`
    // The upload failing early (the store gone) ends the wait for the dump's end too.
    const received = Promise.race([body.reached, done.then(() => undefined)]);
    return {
      input: body,
      received,
      complete: async () => {
        body.release();
        await done;
      },
      abort: async (reason) => {
        body.destroy(reason);
        await upload.abort().catch(() => undefined);
        await done.catch(() => undefined);
        // A small dump may have been sent as one PutObject already: never leave it.
        await this.remove(location).catch(() => undefined);
      },
    };
  }

  async read(location: string): Promise<Readable> {
    try {
      const got = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.base.bucket, Key: this.keyOf(location) }),
      );
      return got.Body as Readable;
    } catch (error) {
      if (notFound(error)) throw new NotFoundError(`backup ${location} does not exist`);
      throw error;
    }
  }

  async remove(location: string): Promise<void> {
    await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.base.bucket, Key: this.keyOf(location) }));
  }

  async list(slug?: string): Promise<StoredObject[]> {
    const prefix = this.prefixed(slug ? `${slug}/` : '');
    const found: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new this.sdk.ListObjectsV2Command({ Bucket: this.base.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? [])
        found.push({
          location: s3Url({ bucket: this.base.bucket, key: object.Key! }),
          bytes: Number(object.Size ?? 0),
        });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  async probe(): Promise<string | undefined> {
    const key = this.prefixed(`.tenantctl-probe-${process.pid}-${Date.now()}`);
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.base.bucket,
          Key: key,
          Body: new Uint8Array(0),
          ContentLength: 0,
        }),
      );
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.base.bucket, Key: key }));
      return undefined;
    } catch (error) {
      return `${this.root} cannot be written: ${errorMessage(error)}`;
    }
  }

  async leftoverUploads(): Promise<LeftoverUpload[]> {
    try {
      return await this.listUploads();
    } catch (error) {
      // Some S3-compatible stores (s3rver) cannot list uploads: nothing to report from them.
      if ((error as { name?: string }).name === 'NotImplemented') return [];
      throw error;
    }
  }

  private async listUploads(): Promise<LeftoverUpload[]> {
    const found: LeftoverUpload[] = [];
    let keyMarker: string | undefined;
    let uploadMarker: string | undefined;
    do {
      const page = await this.client.send(
        new this.sdk.ListMultipartUploadsCommand({
          Bucket: this.base.bucket,
          Prefix: this.prefixed(''),
          KeyMarker: keyMarker,
          UploadIdMarker: uploadMarker,
        }),
      );
      for (const upload of page.Uploads ?? [])
        found.push({
          location: s3Url({ bucket: this.base.bucket, key: upload.Key! }),
          uploadId: upload.UploadId!,
          startedAt: upload.Initiated ? upload.Initiated.toISOString() : null,
        });
      [keyMarker, uploadMarker] = page.IsTruncated
        ? [page.NextKeyMarker, page.NextUploadIdMarker]
        : [undefined, undefined];
    } while (keyMarker);
    return found;
  }

  async abortUpload(upload: LeftoverUpload): Promise<void> {
    await this.client.send(
      new this.sdk.AbortMultipartUploadCommand({
        Bucket: this.base.bucket,
        Key: this.keyOf(upload.location),
        UploadId: upload.uploadId,
      }),
    );
  }
}
