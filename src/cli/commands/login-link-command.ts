import type { Command } from 'commander';
import { print, type CliRuntime } from '../cli-runtime.ts';

/** `countersign login-link --person ID`: a one-time sign-in link to the web inbox, valid 15 minutes; works with the server stopped. */
export function registerLoginLinkCommand(program: Command, runtime: CliRuntime): void {
  program
    .command('login-link')
    .description('print a one-time link that signs a person of the directory in to the web inbox (valid 15 minutes)')
    // Checked in the action, as decide's --as: commander would otherwise ask for it before anything else.
    .option('--person <id>', 'the person (an id of the mapping file\'s people:) to sign in (required)')
    .option('--json', 'machine-readable output')
    .action(async function (this: Command, opts: { person?: string; json?: boolean }) {
      if (!opts.person) this.error("error: required option '--person <id>' not specified: the person to sign in", { exitCode: 2, code: 'commander.missingMandatoryOptionValue' });
      const person = opts.person;
      const link = await runtime.withServices(async (services) => (await import('../../inbox/sign-in.ts')).createSignInLink(services, person));
      print(runtime, opts.json, link, `${link.url}\n(one-time link for ${link.person}, valid until ${link.expiresAt}; open it and press Sign in)`);
    });
}
