// The amoCRM simulator for tests: one shared instance for the run (the default amoCRM of every test app),
// and fresh ones for tests that break things on purpose.
import { createAmoSimulator, type AmoSimulator, type AmoSimulatorOptions } from '../../src/crm/simulator/simulator.js';

let shared: { simulator: AmoSimulator; url: string; token: string } | undefined;

export async function startSharedSimulator(): Promise<void> {
  const simulator = createAmoSimulator({ seedLeadFields: true });
  const { url } = await simulator.listen(0);
  shared = { simulator, url, token: simulator.controls.issueLongLivedToken() };
}

export async function stopSharedSimulator(): Promise<void> {
  await shared?.simulator.close();
}

export function sharedSimulator() {
  if (!shared) throw new Error('the shared amoCRM simulator is not started (test/helpers/hooks.ts)');
  return shared;
}

export async function startSimulator(options: AmoSimulatorOptions = {}) {
  const simulator = createAmoSimulator({ seedLeadFields: true, ...options });
  const { url } = await simulator.listen(0);
  return { simulator, url };
}
