import { sql, type Kysely } from 'kysely';
import type { AuditedDatabase } from '../audit/audit-log.ts';
import { OPERATOR_ACTOR, type AuditActor } from '../audit/audit-record.ts';
import { toJson } from '../db/json.ts';
import type { ApiKeyRow, Database, Scope } from '../db/schema.ts';
import { notFound, unprocessable } from '../primitives/errors.ts';
import { newApiKeySecret, newKeyId, newWebhookSecret } from '../primitives/ids.ts';
import { sha256Hex } from '../primitives/canonical-json.ts';
import { normalizeCallbackHost } from '../callbacks/callback-url-policy.ts';
import { requireSafeText } from '../primitives/safe-text.ts';

export const SCOPES = ['intake', 'read', 'review', 'admin'] as const satisfies readonly Scope[];

export interface NewKeyRequest {
  name: string;
  scopes: Scope[];
  project?: string | undefined;
  reviewer?: string | undefined;
  callbackHosts?: string[] | undefined;
}

/** What `keys create` shows once; only `id` can be seen again. */
export interface CreatedKey {
  id: string;
  name: string;
  key: string;
  webhookSecret: string;
  scopes: Scope[];
  project: string | null;
  reviewer: string | null;
  callbackHosts: string[];
}

/** The caller behind a request, as the routes see it. */
export interface Principal {
  keyId: string;
  name: string;
  scopes: ReadonlySet<Scope>;
  project: string | null;
  reviewer: string | null;
  callbackHosts: readonly string[];
}

/** Whoever runs the CLI on the server's machine: they hold the database itself, so every scope and every project. */
export const OPERATOR_PRINCIPAL: Principal = Object.freeze({ keyId: 'operator', name: 'operator (CLI)', scopes: new Set(SCOPES), project: null, reviewer: null, callbackHosts: [] });

export const hashApiKey = (key: string) => sha256Hex(key);

export async function createApiKey({ db, audit }: AuditedDatabase, request: NewKeyRequest, actor: AuditActor = OPERATOR_ACTOR): Promise<CreatedKey> {
  const scopes = [...new Set(request.scopes)];
  if (scopes.length === 0) throw unprocessable('invalid_scopes', `scopes: expected one or more of ${SCOPES.join(', ')}`);
  const unknown = scopes.find((scope) => !SCOPES.includes(scope));
  if (unknown) throw unprocessable('invalid_scopes', `scopes: unknown scope "${unknown}" (expected ${SCOPES.join(', ')})`);
  if (scopes.includes('review') && !request.reviewer) throw unprocessable('reviewer_required', 'scope review needs --reviewer LOGIN: the identity this key decides as');
  if (!request.name.trim()) throw unprocessable('invalid_name', 'name: must not be empty');
  // CLI values (and the admin socket's) reach here without a schema: the same text rule as the API's.
  requireSafeText('name', request.name);
  if (request.name.length > 200) throw unprocessable('invalid_name', 'name: at most 200 characters');
  if (request.reviewer !== undefined) requireSafeText('reviewer', request.reviewer);
  if (request.project !== undefined) requireSafeText('project', request.project);
  request.callbackHosts?.forEach((host, i) => requireSafeText(`callbackHosts[${i}]`, host));
  if (request.project) {
    const project = await db.selectFrom('projects').select('key').where('key', '=', request.project).executeTakeFirst();
    if (!project) throw unprocessable('unknown_project', `project: no project "${request.project}" (apply a mapping first: countersign projects apply FILE.yaml)`);
  }

  const created: CreatedKey = {
    id: newKeyId(),
    name: request.name.trim(),
    key: newApiKeySecret(),
    webhookSecret: newWebhookSecret(),
    scopes,
    project: request.project ?? null,
    reviewer: request.reviewer ?? null,
    callbackHosts: [...new Set((request.callbackHosts ?? []).map(normalizeCallbackHost))],
  };
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('api_keys')
      .values({
        id: created.id,
        name: created.name,
        key_hash: hashApiKey(created.key),
        scopes: toJson(created.scopes),
        project: created.project,
        reviewer: created.reviewer,
        callback_hosts: toJson(created.callbackHosts),
        webhook_secret: created.webhookSecret,
      })
      .execute();
    // Never the key or its secret: only what identifies it.
    const { key: _key, webhookSecret: _secret, ...shown } = created;
    await audit.append(trx, { event: 'api_key.created', actor, data: { ...shown } });
  });
  return created;
}

export async function revokeApiKey({ db, audit }: AuditedDatabase, id: string, actor: AuditActor = OPERATOR_ACTOR): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const result = await trx.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    if (result.numUpdatedRows === 0n) {
      const exists = await trx.selectFrom('api_keys').select('id').where('id', '=', id).executeTakeFirst();
      if (!exists) throw notFound(`no API key with id ${id}`);
      return; // already revoked: nothing changed, nothing to audit
    }
    await audit.append(trx, { event: 'api_key.revoked', actor, data: { id } });
  });
}

/** The live key matching a presented secret, or undefined. */
export async function findPrincipal(db: Kysely<Database>, presentedKey: string): Promise<Principal | undefined> {
  return findPrincipalByHash(db, hashApiKey(presentedKey));
}

/** The live key whose secret hashes to `keyHash`, or undefined. */
export async function findPrincipalByHash(db: Kysely<Database>, keyHash: string): Promise<Principal | undefined> {
  const row = await db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).where('revoked_at', 'is', null).executeTakeFirst();
  return row && toPrincipal(row);
}

/**
 * Whether the key still exists unrevoked, as an expression: a write that relies on a principal
 * read earlier (from a cache) checks it in its own statement, at no extra round trip.
 */
export const keyIsLive = (keyId: string) => sql<boolean>`exists (select 1 from api_keys where id = ${keyId} and revoked_at is null)`;

/** Whether the key still exists unrevoked (a principal read earlier may have been revoked since). */
export async function isKeyLive(db: Kysely<Database>, keyId: string): Promise<boolean> {
  const { rows } = await sql<{ live: boolean }>`select ${keyIsLive(keyId)} as live`.execute(db);
  return rows[0]?.live === true;
}

export async function listApiKeys(db: Kysely<Database>) {
  const rows = await db.selectFrom('api_keys').selectAll().orderBy('created_at').execute();
  return rows.map((row) => ({ ...publicKeyFields(row), createdAt: row.created_at.toISOString(), revokedAt: row.revoked_at?.toISOString() ?? null }));
}

function publicKeyFields(row: ApiKeyRow) {
  return { id: row.id, name: row.name, scopes: row.scopes, project: row.project, reviewer: row.reviewer, callbackHosts: row.callback_hosts };
}

function toPrincipal(row: ApiKeyRow): Principal {
  return { keyId: row.id, name: row.name, scopes: new Set(row.scopes), project: row.project, reviewer: row.reviewer, callbackHosts: row.callback_hosts };
}
