// The account's one pipeline: the unsorted stage (type 1), the shop's working stages, and the system
// stages 142 (won) and 143 (lost) that every amoCRM pipeline has.
export type Status = { id: number; name: string; sort: number; is_editable: boolean; color: string; type: 0 | 1 };
export type Pipeline = { id: number; name: string; sort: number; is_main: boolean; is_unsorted_on: boolean; is_archive: boolean; statuses: Status[] };

export const WON_STATUS_ID = 142;
export const LOST_STATUS_ID = 143;

export function createPipelines(): Pipeline[] {
  const id = 7039100;
  return [{
    id,
    name: 'Воронка',
    sort: 1,
    is_main: true,
    is_unsorted_on: true,
    is_archive: false,
    statuses: [
      { id: id + 1, name: 'Неразобранное', sort: 10, is_editable: false, color: '#c1c1c1', type: 1 },
      { id: id + 2, name: 'Новая заявка', sort: 20, is_editable: true, color: '#99ccff', type: 0 },
      { id: id + 3, name: 'Подписка активна', sort: 30, is_editable: true, color: '#ffff99', type: 0 },
      { id: id + 4, name: 'Доставка запланирована', sort: 40, is_editable: true, color: '#ffcc66', type: 0 },
      { id: id + 5, name: 'Пауза', sort: 50, is_editable: true, color: '#deff81', type: 0 },
      { id: WON_STATUS_ID, name: 'Успешно реализовано', sort: 10000, is_editable: false, color: '#CCFF66', type: 0 },
      { id: LOST_STATUS_ID, name: 'Закрыто и не реализовано', sort: 11000, is_editable: false, color: '#D5D8DB', type: 0 },
    ],
  }];
}

/** The stage new leads land in: the first stage that is neither unsorted nor closed. */
export function firstWorkingStatus(pipeline: Pipeline): Status {
  return pipeline.statuses.find((s) => s.type === 0 && s.id !== WON_STATUS_ID && s.id !== LOST_STATUS_ID)!;
}

export function renderPipeline(pipeline: Pipeline, accountId: number, base: string) {
  const href = `${base}/api/v4/leads/pipelines/${pipeline.id}`;
  return {
    id: pipeline.id,
    name: pipeline.name,
    sort: pipeline.sort,
    is_main: pipeline.is_main,
    is_unsorted_on: pipeline.is_unsorted_on,
    is_archive: pipeline.is_archive,
    account_id: accountId,
    _links: { self: { href } },
    _embedded: { statuses: pipeline.statuses.map((s) => renderStatus(s, pipeline.id, accountId, base)) },
  };
}

export function renderStatus(status: Status, pipelineId: number, accountId: number, base: string) {
  return {
    id: status.id,
    name: status.name,
    sort: status.sort,
    is_editable: status.is_editable,
    pipeline_id: pipelineId,
    color: status.color,
    type: status.type,
    account_id: accountId,
    _links: { self: { href: `${base}/api/v4/leads/pipelines/${pipelineId}/statuses/${status.id}` } },
  };
}
