import { UsageError } from '../core/errors.js';

/** A bucket and a key (or key prefix, without leading or trailing slash). */
export interface S3Location {
  bucket: string;
  key: string;
}

/** Whether a configured store or a recorded backup location is an S3 one. */
export const isS3Url = (value: string): boolean => value.startsWith('s3://');

/** Parses `s3://bucket/key…`; a bad one is a UsageError that says what is expected. */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match)
    throw new UsageError(
      `${url}: not an S3 location (expected s3://bucket or s3://bucket/prefix, bucket in lower case)`,
    );
  const key = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (key.split('/').some((part) => part === '..' || part === '.'))
    throw new UsageError(`${url}: a prefix may not contain "." or ".." segments`);
  return { bucket: match[1]!, key };
}

export const s3Url = ({ bucket, key }: S3Location): string => `s3://${bucket}/${key}`;
