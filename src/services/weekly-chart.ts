// The staff overview's 12-week chart, drawn on the server as SVG geometry for the view: one small bar chart per
// series (sign-ups, first deliveries, confirmed orders, cancellations), each on its own scale, stacked, so that it
// stays readable at 360 px. The numbers are also given as a table for screen readers and copying.
import { WEEKLY_SERIES, type WeekCounts, type WeeklySeries } from '../models/weekly-stats-model.js';

export const CHART_WEEKS = 12;
const WIDTH = 360;
const LABEL_W = 0;
const PANEL_H = 64;
const BAR_AREA_H = 40;
const TOP = 18;
const GAP = 3;

export type ChartPanel = {
  series: WeeklySeries; max: number; y: number; total: number;
  bars: { x: number; y: number; width: number; height: number; value: number; week: string }[];
};
export type WeeklyChart = { width: number; height: number; weeks: (WeekCounts & { label: string })[]; panels: ChartPanel[]; axis: { x: number; label: string }[] };

export function weeklyChart(weeks: WeekCounts[]): WeeklyChart {
  const slot = (WIDTH - LABEL_W) / Math.max(weeks.length, 1);
  const width = Math.max(slot - GAP, 1);
  const panels = WEEKLY_SERIES.map((series, i): ChartPanel => {
    const y = i * PANEL_H;
    const max = Math.max(0, ...weeks.map((w) => w[series]));
    return {
      series, max, y, total: weeks.reduce((sum, w) => sum + w[series], 0),
      bars: weeks.map((w, j) => {
        const value = w[series];
        const height = max === 0 ? 0 : Math.max(value > 0 ? 1 : 0, Math.round((value / max) * BAR_AREA_H));
        return { x: round(LABEL_W + j * slot), y: y + TOP + BAR_AREA_H - height, width: round(width), height, value, week: w.week };
      }),
    };
  });
  // Every third week's Monday under the last panel (day.month), so the labels never overlap at 360 px.
  const axis = weeks.flatMap((w, j) => (j % 3 === 0 ? [{ x: round(LABEL_W + j * slot), label: `${w.week.slice(8, 10)}.${w.week.slice(5, 7)}` }] : []));
  const labelled = weeks.map((w) => ({ ...w, label: `${w.week.slice(8, 10)}.${w.week.slice(5, 7)}` }));
  return { width: WIDTH, height: WEEKLY_SERIES.length * PANEL_H + 14, weeks: labelled, panels, axis };
}

const round = (n: number) => Math.round(n * 10) / 10;
