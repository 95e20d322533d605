import { CountersignError } from '../primitives/errors.ts';

export const tooManyRequests = (message: string) => new CountersignError(429, 'too_many_requests', message);
