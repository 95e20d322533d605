import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createSigningThread } from './signing-thread.ts';

/**
 * The service's Ed25519 key: it signs audit records and checkpoints (and, later, callback
 * receipts). Keys stay `KeyObject`s: handing a PEM string to `sign` parses it on every
 * call, about 15× slower (AUDIT-NOTES.md).
 */
export interface Signer {
  /** Stable id of the public key: the first 16 hex digits of SHA-256 over its raw 32 bytes. */
  readonly keyId: string;
  readonly publicKey: KeyObject;
  /** SPKI PEM, as served at `GET /v1/audit/public-key`. */
  readonly publicKeyPem: string;
  /** Ed25519 signature (64 bytes) over `data`. */
  sign(data: Buffer | string): Buffer;
  /** Signatures over each of `data`, off the event loop when there are more than a few (see signing-thread.ts). */
  signAll(data: readonly Buffer[]): Promise<Buffer[]>;
  /** Stops the signing thread, if one runs (a later `signAll` starts it again). */
  close(): Promise<void>;
}

/** Where a generated key lives inside the data directory. */
export const signingKeyPath = (dataDir: string) => path.join(dataDir, 'signing-key.pem');

/** The raw 32-byte Ed25519 public key (the tail of its SPKI DER). */
export const rawPublicKey = (publicKey: KeyObject): Buffer => publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);

export const publicKeyId = (publicKey: KeyObject): string => createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);

/** Builds a signer from a PKCS#8 PEM; throws naming the problem when it is not Ed25519. */
export function signerFromPem(pem: string): Signer {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`signing key is ${privateKey.asymmetricKeyType ?? 'not asymmetric'}; an Ed25519 key is required`);
  const publicKey = createPublicKey(privateKey);
  const thread = createSigningThread(privateKey);
  return {
    keyId: publicKeyId(publicKey),
    publicKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    // Ed25519 takes no digest: the algorithm argument must be null.
    sign: (data) => sign(null, typeof data === 'string' ? Buffer.from(data) : data, privateKey),
    signAll: (data) => thread.signAll(data),
    close: () => thread.close(),
  };
}

/**
 * The signer from `COUNTERSIGN_SIGNING_KEY` (config.signingKeyPem) or, without it, from the
 * data directory, generating a key there on first start (mode 0600). Two processes starting
 * at once agree on one key: only the first exclusive create wins.
 *
 * @example const signer = await loadSigner(config); signer.sign(Buffer.from(hash, 'hex'));
 */
export async function loadSigner(config: { signingKeyPem: string | undefined; dataDir: string }): Promise<Signer> {
  if (config.signingKeyPem) {
    try {
      return signerFromPem(config.signingKeyPem);
    } catch (error) {
      throw new Error(`COUNTERSIGN_SIGNING_KEY: ${(error as Error).message}`, { cause: error });
    }
  }
  const file = signingKeyPath(config.dataDir);
  await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // Written whole to a private temporary file, then linked into place: link fails if the
  // key exists, so a racing process never reads a half-written key nor replaces one.
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const { privateKey } = generateKeyPairSync('ed25519');
    await fs.writeFile(temporary, privateKey.export({ format: 'pem', type: 'pkcs8' }), { flag: 'wx', mode: 0o600 });
    await fs.link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await fs.rm(temporary, { force: true });
  }
  return signerFromPem(await fs.readFile(file, 'utf8'));
}

/** Checks an Ed25519 signature; false (never a throw) for malformed input. */
export function verifySignature(publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(null, data, publicKey, signature);
  } catch {
    return false;
  }
}
