/** Serializes a value for a jsonb column; see `Json<T>` in schema.ts for why it is text. */
export const toJson = (value: unknown): string => JSON.stringify(value);
