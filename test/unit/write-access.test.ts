import assert from 'node:assert/strict';
import { RateLimitedError, WriteAccess, feedbackLimitsFromEnv, isLoopback, writeTokensFromEnv } from '../../serving/write-access';

describe('serving write access', () => {
  it('takes only loopback peers as loopback', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(address), true, address);
    for (const address of ['192.0.2.2', '::ffff:10.0.0.1', '::', '0.0.0.0', 'localhost', undefined]) assert.equal(isLoopback(address), false, String(address));
  });

  it('reads tokens and limits from the environment, refusing a limit that is not a positive number', () => {
    assert.deepEqual(writeTokensFromEnv({ STORELOOP_SERVING_WRITE_TOKEN: ' a, b ,,' }), ['a', 'b']);
    assert.deepEqual(writeTokensFromEnv({}), []);
    assert.equal(feedbackLimitsFromEnv({ STORELOOP_FEEDBACK_USER_BURST: '7' }).perUser.burst, 7);
    assert.throws(() => feedbackLimitsFromEnv({ STORELOOP_FEEDBACK_CLIENT_PER_SECOND: '-1' }), /STORELOOP_FEEDBACK_CLIENT_PER_SECOND must be a positive number/);
  });

  it('bounds each user with a token bucket: all of a request or none, refilled with time', () => {
    const access = new WriteAccess({ tokens: [], limits: { perClient: { burst: 100, perSecond: 1 }, perUser: { burst: 3, perSecond: 1 } } });
    access.admitUsers(['u', 'u', 'v'], 0);
    // u has 1 left: two more events of u are refused, and v's event in the same request is not taken either.
    assert.throws(() => access.admitUsers(['u', 'u', 'v'], 0), (e: RateLimitedError) => e.statusCode === 429 && e.scope === 'user' && e.retryAfterSeconds === 1);
    access.admitUsers(['v', 'v'], 0);
    access.admitUsers(['u', 'u'], 1000);
    assert.throws(() => access.admitUsers(['u', 'u', 'u', 'u'], 60_000), /more feedback events from this user in one request than the 3 allowed/);
    assert.deepEqual(access.stats().rateLimited, { client: 0, user: 7 });
  });
});
