/** parseTargetRef: kubectl's TYPE/NAME spellings, and usage errors for everything else. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKubemuxError } from '../../../src/errors.js';
import { formatTargetRef, parseTargetRef } from '../../../src/resilience/target-ref.js';

test('every kubectl spelling of pod, deployment and service parses; a bare name is a pod', () => {
  const cases: [string, string][] = [
    ['web-0', 'pod/web-0'],
    ['pod/web-0', 'pod/web-0'],
    ['pods/web-0', 'pod/web-0'],
    ['po/web-0', 'pod/web-0'],
    ['Pod/web-0', 'pod/web-0'],
    ['deploy/web', 'deployment/web'],
    ['deployment/web', 'deployment/web'],
    ['deployments/web', 'deployment/web'],
    ['deployments.apps/web', 'deployment/web'],
    ['deployment.v1.apps/web', 'deployment/web'],
    ['svc/web', 'service/web'],
    ['service/web', 'service/web'],
    ['services/web', 'service/web'],
    ['pod/a.b-c.d', 'pod/a.b-c.d'],
  ];
  for (const [text, expected] of cases) assert.equal(formatTargetRef(parseTargetRef(text)), expected, text);
  assert.deepEqual(parseTargetRef('svc/db'), { kind: 'service', name: 'db' });
});

test('malformed references, bad names and other types are usage errors that say why', () => {
  const rejects = (text: string, pattern: RegExp): void => {
    assert.throws(
      () => parseTargetRef(text),
      (err) => isKubemuxError(err, 'ERR_INVALID_ARGUMENT') && err.scope === 'usage' && pattern.test(err.message),
      text,
    );
  };
  rejects('', /a target is required/);
  rejects('pod/', /must have a single resource and name/);
  rejects('/web', /must have a single resource and name/);
  rejects('pod/web/0', /must have a single resource and name/);
  rejects('pod/Web', /not a valid pod name/);
  rejects('svc/under_score', /not a valid service name/);
  rejects(`pod/${'a'.repeat(254)}`, /at most 253/);
  rejects('rs/web-5d4f', /does not forward to replicasets/);
  rejects('statefulsets.apps/db', /does not forward to statefulsets/);
  rejects('sts/db', /does not forward to statefulsets/);
  rejects('ds/agent', /does not forward to daemonsets/);
  rejects('job/migrate', /does not forward to jobs/);
  rejects('rc/old', /does not forward to replicationcontrollers/);
  rejects('configmap/x', /the server doesn't have a resource type "configmap"/);
});
