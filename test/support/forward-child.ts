/** The child process of test/support/forward-process.ts: its config is the first argument (JSON). */
import { runForwardChild, type ForwardChildConfig } from './forward-process.js';

await runForwardChild(JSON.parse(process.argv[2] ?? '{}') as ForwardChildConfig);
