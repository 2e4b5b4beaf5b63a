// Mocha's global fixtures and root hooks: the test database for the whole run, and the page-quality check
// over every page the tests rendered.
import { pageProblems, renderedPages } from './pages.js';
import { startTestDatabase, stopTestDatabase } from './db.js';
import { startSmtp, stopSmtp } from './smtp.js';
import { startSharedSimulator, stopSharedSimulator } from './amocrm.js';

export async function mochaGlobalSetup(): Promise<void> {
  await Promise.all([startTestDatabase(), startSmtp(), startSharedSimulator()]);
}

export async function mochaGlobalTeardown(): Promise<void> {
  await Promise.all([stopTestDatabase(), stopSmtp(), stopSharedSimulator()]);
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    // Every page the run rendered (several hundred) is checked here: on a busy machine that takes longer than one test.
    this.timeout(180_000);
    const pages = renderedPages();
    const failures: string[] = [];
    for (const page of pages) {
      const problems = await pageProblems(page.html);
      if (problems.length) failures.push(`${page.key}:\n    ${problems.join('\n    ')}`);
    }
    if (failures.length) throw new Error(`page quality: ${failures.length} of ${pages.length} rendered pages fail:\n  ${failures.join('\n  ')}`);
    if (pages.length) process.stdout.write(`  page quality: ${pages.length} rendered pages valid, script-free, labelled, ≤ 14 KB gzip\n`);
  },
};
