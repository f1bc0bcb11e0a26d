import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
// s3rver ships no types: only run() and close() are used.
// @ts-expect-error no declaration file
import S3rver from 's3rver';

/** This helper session's ports for its own s3rver instances (127.0.0.1 only). */
const PORTS = [4570, 4571, 4572, 4573, 4574, 4575, 4576, 4577, 4578, 4579];

/** An S3-compatible store the tests write backups to, and the settings tenantctl reaches it with. */
export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** For tenantctl: its store settings and the AWS credentials the SDK's default chain reads. */
  env: Record<string, string>;
  client: S3Client;
  /** An own s3rver's directory (its objects and uploads on disk); undefined for an external store. */
  directory?: string;
  /** Stops the server (an own s3rver only), cutting every connection: a store gone mid-upload. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory (an own s3rver only). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

interface Running {
  close(): Promise<void>;
  httpServer?: { closeAllConnections?: () => void };
}

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

function clientFor(endpoint: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: process.env.TENANTCTL_TEST_S3_URL ? undefined : credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function runS3rver(port: number, directory: string, bucket: string): Promise<Running> {
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  }) as Running & { run(): Promise<unknown> };
  await server.run();
  return server;
}

/**
 * An s3rver of this test file's own, on the first free port of the range, with a fresh bucket.
 * `own` forces one even when TENANTCTL_TEST_S3_URL names another store (a test that stops it).
 */
export async function startS3(own = false): Promise<TestS3> {
  const external = process.env.TENANTCTL_TEST_S3_URL;
  if (external && !own) {
    // `http://host:port/bucket`: any S3-compatible store, credentials from the AWS environment.
    const url = new URL(external);
    const bucket = url.pathname.replace(/^\/+|\/+$/g, '') || 'tenantctl-test';
    const endpoint = url.origin;
    const client = clientFor(endpoint);
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
    const env = storeEnv(endpoint, bucket, {});
    const nothing = async () => {
      throw new Error('an external store cannot be stopped by the tests');
    };
    return { endpoint, bucket, env, client, stop: nothing, restart: nothing, close: async () => client.destroy() };
  }
  const directory = mkdtempSync(join(tmpdir(), 'tenantctl-s3rver-'));
  const bucket = `tc-${randomBytes(4).toString('hex')}`;
  let server: Running | undefined;
  let port = 0;
  for (const candidate of PORTS) {
    if (!(await portFree(candidate))) continue; // another test file's s3rver
    try {
      server = await runS3rver(candidate, directory, bucket);
      port = candidate;
      break;
    } catch {
      // taken (another test file's s3rver): the next one
    }
  }
  if (!server) throw new Error(`no free port for s3rver in ${PORTS[0]}-${PORTS.at(-1)}`);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = clientFor(endpoint);
  const stop = async () => {
    const closing = server!.close();
    server!.httpServer?.closeAllConnections?.();
    await closing;
  };
  return {
    endpoint,
    bucket,
    env: storeEnv(endpoint, bucket, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }),
    client,
    directory,
    stop,
    restart: async () => {
      server = await runS3rver(port, directory, bucket);
    },
    close: async () => {
      client.destroy();
      await stop().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** s3rver reports a taken port as an uncaught error, not a rejection: asked first. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

function storeEnv(endpoint: string, bucket: string, auth: Record<string, string>): Record<string, string> {
  return {
    TENANTCTL_BACKUP_STORE: `s3://${bucket}/${randomBytes(3).toString('hex')}`,
    TENANTCTL_S3_ENDPOINT: endpoint,
    TENANTCTL_S3_REGION: 'us-east-1',
    TENANTCTL_S3_FORCE_PATH_STYLE: 'true',
    ...auth,
  };
}

/** `s3://bucket/key` → its parts. */
export function splitS3(location: string): { Bucket: string; Key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!match) throw new Error(`not an S3 location: ${location}`);
  return { Bucket: match[1]!, Key: match[2]! };
}

export async function getObject(s3: TestS3, location: string): Promise<Buffer> {
  const got = await s3.client.send(new GetObjectCommand(splitS3(location)));
  return Buffer.from(await got.Body!.transformToByteArray());
}

export async function putObject(s3: TestS3, location: string, body: Buffer): Promise<void> {
  await s3.client.send(new PutObjectCommand({ ...splitS3(location), Body: body }));
}

export async function listKeys(s3: TestS3, prefix: string): Promise<string[]> {
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

export async function multipartUploads(s3: TestS3): Promise<string[]> {
  const page = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
  return (page.Uploads ?? []).map((u) => u.Key!);
}

/** The highest part number of any multipart upload an own s3rver holds right now (0: none). */
export function partsInProgress(s3: TestS3): number {
  if (!s3.directory) return 0;
  let highest = 0;
  const walk = (dir: string, inUploads: boolean) => {
    for (const entry of existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : []) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, inUploads || entry.name.includes('uploads'));
      else if (inUploads && /^\d+$/.test(entry.name)) highest = Math.max(highest, Number(entry.name));
    }
  };
  walk(s3.directory, false);
  return highest;
}
