import type { ColumnType } from 'kysely';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

/**
 * The web inbox's tables (migration 0013), kept out of `Database` like the provider event
 * tables: the code that reads them uses `db.withTables<InboxTables>()`.
 */
export type InboxTables = {
  inbox_sessions: { token_hash: string; person: string; created_at: CreatedAt; expires_at: Date };
  inbox_tokens: {
    token_hash: string;
    purpose: TokenPurpose;
    person: string;
    approval_id: string | null;
    payload_hash: string | null;
    created_at: CreatedAt;
    expires_at: Date;
    used_at: Date | null;
  };
  inbox_sign_in_requests: { address_hash: string; client: string; created_at: CreatedAt };
};

export type TokenPurpose = 'sign-in' | 'approval';
