import { generateKeyPairSync } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { publicKeyId } from '../primitives/signing-key.ts';
import type { AuditLog } from './audit-log.ts';
import type { AuditActor } from './audit-record.ts';
import { signKeyRotation } from './key-rotation.ts';

export interface RotatedKey {
  previousKeyId: string;
  keyId: string;
  publicKeyPem: string;
  /** PKCS#8 PEM of the new key: the caller stores it (data directory or the operator's secret store) and never prints it. */
  privateKeyPem: string;
  seq: number;
}

/**
 * A new Ed25519 signing key, endorsed by the one in use (key-rotation.ts) and recorded in the
 * log as `audit.signing_key_rotated`, chained at once, together with the new public key in
 * audit_signing_keys. Old keys stay listed, so records they signed verify for good; a verifier
 * that trusts only the first key follows the endorsements. The caller stores the private key
 * where the next start reads it (the process keeps signing with the old key until then, which
 * stays valid). `stage` runs first with the new key: a key that cannot be stored leaves no
 * rotation behind.
 */
export async function rotateSigningKey(db: Kysely<Database>, audit: Pick<AuditLog, 'appendNow' | 'signer' | 'flush'>, actor: AuditActor, stage: (key: { privateKeyPem: string; keyId: string }) => Promise<void>): Promise<RotatedKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyId = publicKeyId(publicKey);
  const publicKeyPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await stage({ privateKeyPem, keyId });
  await audit.flush();
  return db.transaction().execute(async (trx) => {
    const { origin } = await trx.selectFrom('audit_head').select('origin').executeTakeFirstOrThrow();
    const endorsement = signKeyRotation(origin, audit.signer, publicKey);
    await trx.insertInto('audit_signing_keys').values({ key_id: keyId, public_key: publicKeyPem }).execute();
    const record = await audit.appendNow(trx, { event: 'audit.signing_key_rotated', actor, data: { previousKeyId: audit.signer.keyId, keyId, publicKey: publicKeyPem, endorsement } });
    return { previousKeyId: audit.signer.keyId, keyId, publicKeyPem, privateKeyPem, seq: record.seq };
  });
}
