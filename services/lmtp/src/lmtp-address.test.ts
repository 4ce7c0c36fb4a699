import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePath, splitRecipient } from './lmtp-address.js';

test('envelope paths with parameters, the null sender and quoted local parts', () => {
  const from = parsePath('FROM', 'FROM:<a@b.example> SIZE=100 body=8bitmime SMTPUTF8');
  assert.equal(from?.address, 'a@b.example');
  assert.deepEqual([...from!.params], [['SIZE', '100'], ['BODY', '8bitmime'], ['SMTPUTF8', '']]);
  assert.equal(parsePath('FROM', 'from:<>')?.address, '');
  assert.equal(parsePath('TO', 'TO: <"a b"@c>')?.address, '"a b"@c');
  assert.equal(parsePath('TO', 'TO:alice@example.org'), undefined, 'angle brackets are required');
  assert.equal(parsePath('FROM', 'TO:<a@b>'), undefined);
});

test('+detail splits at the first delimiter of the local part', () => {
  assert.deepEqual(splitRecipient('alice+lists+x@example.org', '+'), { address: 'alice+lists+x@example.org', lookupName: 'alice@example.org', detail: 'lists+x' });
  assert.deepEqual(splitRecipient('alice-lists@example.org', '+-'), { address: 'alice-lists@example.org', lookupName: 'alice@example.org', detail: 'lists' });
  assert.equal(splitRecipient('alice+lists@example.org', '').detail, '', 'an empty recipient_delimiter disables detail');
  assert.equal(splitRecipient('+x@example.org', '+').lookupName, '+x@example.org', 'a leading delimiter is part of the name');
});
