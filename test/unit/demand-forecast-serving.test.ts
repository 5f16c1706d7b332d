import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { z } from 'zod';
import { Forecaster, type ForecasterConfig } from '../../ml/forecast/forecaster';
import { forecastServing, type LoadedForecaster } from '../../activities/model-kinds/demand-forecast/serving';
import { describeRequestIssue } from '../../schemas/serving';
import type { ServingHost } from '../../activities/model-kinds/contract';

/** A Naive2 forecaster (no global model) with symmetric intervals of one scale unit. */
const config: ForecasterConfig = { horizon: 3, seasonality: 1, minHistory: 4, method: 'naive2', input: 'capped', lowerOffsets: [-1, -1, -1], upperOffsets: [1, 1, 1], mlp: null, members: 0, validation: {} };

function app(loaded: LoadedForecaster, logged: Record<string, unknown>[]) {
  const fail = (error: z.ZodError) => {
    const { field, message } = describeRequestIssue(error);
    throw Object.assign(new Error(`${field}: ${message}`), { statusCode: 400, field });
  };
  const host = {
    model: 'test-demand-forecast',
    log: undefined as never,
    parse: (schema: z.ZodType, input: unknown) => {
      const parsed = schema.safeParse(input);
      return parsed.success ? parsed.data : fail(parsed.error);
    },
    check: <T>(parsed: z.ZodSafeParseResult<T>) => (parsed.success ? parsed.data : fail(parsed.error)),
    serve: async (_request: unknown, _reply: unknown, work: (l: LoadedForecaster, v: string) => Promise<{ body: Record<string, unknown>; logged: Record<string, unknown>[] }>) => {
      const { body, logged: rows } = await work(loaded, 'v1');
      logged.push(...rows);
      return { version: 'v1', ...body };
    },
    explains: () => false,
    liveVersion: () => 'v1',
    live: () => loaded,
    logFeedback: async (rows: Record<string, unknown>[]) => void logged.push(...rows),
    creditedVersion: () => 'v1',
  } as unknown as ServingHost<LoadedForecaster>;
  const server = Fastify();
  server.setErrorHandler((error: Error & { statusCode?: number; field?: string }, _request, reply) => reply.status(error.statusCode ?? 500).send({ error: error.message, field: error.field }));
  forecastServing.routes(server, host);
  return server;
}

describe('demand-forecast serving', () => {
  const forecaster = new Forecaster(config, null);
  const [forecast] = forecaster.forecast([[4, 6, 5, 7]]);
  const loaded: LoadedForecaster = { forecaster, config, series: new Map([['sku-1', { nextWeek: 2950, dated: true, scale: 5 / 3, forecast, decomposition: null }]]) };
  const logged: Record<string, unknown>[] = [];
  const server = app(loaded, logged);
  after(() => server.close());

  it('answers a known series from the batch forecast, logging each week', async () => {
    const response = await server.inject({ method: 'GET', url: '/forecast?series=sku-1&horizon=2' });
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json() as { forecasts: { step: number; week: number; week_start: string; p10: number; p50: number; p90: number }[]; version: string };
    assert.equal(body.version, 'v1');
    assert.deepEqual(body.forecasts.map((f) => [f.step, f.week, f.p50]), [[1, 2950, 7], [2, 2951, 7]]);
    // MASE scale of 4, 6, 5, 7: (2 + 1 + 2) / 3.
    assert.ok(Math.abs(body.forecasts[0].p90 - (7 + 5 / 3)) < 1e-9 && Math.abs(body.forecasts[0].p10 - (7 - 5 / 3)) < 1e-9);
    assert.match(body.forecasts[0].week_start, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(logged.filter((r) => r.type === 'forecast').length, 2);
  });

  it('refuses an unknown series (404), a horizon over the trained one and a short history (400), naming the field', async () => {
    const unknown = await server.inject({ method: 'GET', url: '/forecast?series=nope' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().field, 'series');
    const far = await server.inject({ method: 'GET', url: '/forecast?series=sku-1&horizon=4' });
    assert.equal(far.statusCode, 400);
    assert.equal(far.json().field, 'horizon');
    const short = await server.inject({ method: 'POST', url: '/forecast', payload: { history: [1, 2] } });
    assert.equal(short.statusCode, 400);
    assert.equal(short.json().field, 'history');
    const malformed = await server.inject({ method: 'POST', url: '/forecast', payload: { history: [1, 'x', 3, 4] } });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().field, 'history[1]');
  });

  it('forecasts a posted history on the fly and logs posted actuals', async () => {
    const posted = await server.inject({ method: 'POST', url: '/forecast', payload: { history: [1, 2, 3, 9] } });
    assert.equal(posted.statusCode, 200, posted.body);
    assert.deepEqual((posted.json() as { forecasts: { p50: number }[] }).forecasts.map((f) => f.p50), [9, 9, 9]);
    const actual = await server.inject({ method: 'POST', url: '/feedback', payload: [{ series_id: 'sku-1', week_start: '2026-07-20', quantity: 8 }, { series_id: 'other', week: 3, quantity: 1 }] });
    assert.equal(actual.statusCode, 202, actual.body);
    assert.deepEqual(actual.json().unknown_series, ['other']);
    const rows = logged.filter((r) => r.type === 'actual');
    assert.deepEqual(rows.map((r) => [r.series_id, r.quantity]), [['sku-1', 8], ['other', 1]]);
    const both = await server.inject({ method: 'POST', url: '/feedback', payload: { series_id: 'sku-1', quantity: 1 } });
    assert.equal(both.statusCode, 400, 'a week is required');
  });
});
