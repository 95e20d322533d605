import type { HostResolver } from '../../src/callbacks/callback-url-policy.ts';

export type FakeDns = HostResolver & {
  /** Every name asked, in order: shows whether (and when) a check resolved. */
  readonly asked: string[];
  /** Changes the answers from now on, as a rebinding DNS server would between intake and delivery. */
  answer(answers: Record<string, string[]>): void;
};

/** A DNS stand-in answering from a table (ENOTFOUND for any other name). */
export function fakeDns(initial: Record<string, string[]>): FakeDns {
  const asked: string[] = [];
  let answers = initial;
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    const found = answers[hostname];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return [...found];
  };
  return Object.assign(resolve, {
    asked,
    answer(next: Record<string, string[]>) {
      answers = next;
    },
  });
}
