// The worker's task list: each task name → the service verb that does the work.
import type { TaskList } from 'graphile-worker';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

export type TaskDeps = { config: Config; db: Knex; logger: Logger };

export function createTasks(_deps: TaskDeps): TaskList {
  return {};
}
