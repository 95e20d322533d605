import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';

// Monotonic: two ids made in the same millisecond still sort in the order they were made.
const ulid = monotonicFactory();

/** Ids sort by creation time (ULID), so list pages and logs read in order. */
export const newApprovalId = () => `apr_${ulid().toLowerCase()}`;
export const newKeyId = () => `key_${ulid().toLowerCase()}`;

/** 32 random bytes: an API key needs no slow hash when it cannot be guessed. */
export const newApiKeySecret = () => `csk_${randomBytes(32).toString('base64url')}`;
/** Standard Webhooks secrets are `whsec_` + base64 of at least 24 random bytes. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
