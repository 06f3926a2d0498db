import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  BadRequest,
  maxAppendSizeDetail,
  streamDeletedDetail,
  unknownDetail,
  wrongExpectedVersionDetail,
} from '../errors';
import { ExpectedRevision, ProposedEvent, WriteOutcome } from '../storage/types';
import { ServerContext } from './context';
import { BatchAppendResult, encodeBatchAppendResp } from './encode';
import { WireBatchAppendReq } from './decode';
import { parseEventId, proposedSize, requireStreamName, toProposed } from './request';
import { noteWriteFailure } from './write-failures';

interface PendingBatch {
  stream: string;
  expected: ExpectedRevision;
  events: ProposedEvent[];
  size: number;
  failed: boolean;
}

function resultOf(correlationId: string, stream: string, outcome: WriteOutcome): BatchAppendResult {
  switch (outcome.kind) {
    case 'ok':
      return {
        correlationId,
        stream,
        success: { currentRevision: outcome.currentRevision, position: outcome.position?.commit ?? null },
      };
    case 'wrong_expected_version':
      return {
        correlationId,
        stream,
        error: wrongExpectedVersionDetail(stream, outcome.expected, outcome.currentRevision),
      };
    case 'stream_deleted':
      return { correlationId, stream, error: streamDeletedDetail(stream) };
    case 'failed':
      return { correlationId, stream, error: unknownDetail(outcome.message) };
  }
}

/**
 * Streams.BatchAppend (bidirectional): the client keeps one call open and multiplexes appends on it by
 * correlation id; an append may span several requests (chunks) and is complete at `is_final`. Each
 * completed append joins the next group commit and is answered as soon as its transaction committed.
 */
export function batchAppendHandler(ctx: ServerContext) {
  // Requests arrive decoded by decodeBatchAppendReq (server.ts registers it as the deserializer).
  return (call: ServerDuplexStream<WireBatchAppendReq, Buffer>): void => {
    const pending = new Map<string, PendingBatch>();
    let inFlight = 0;
    let ended = false;
    let gone = false;
    let shuttingDown = false;

    const send = (result: BatchAppendResult) => {
      if (!gone) call.write(encodeBatchAppendResp(result));
    };
    const maybeEnd = () => {
      if (!ended || inFlight > 0 || gone) return;
      if (!shuttingDown) return void call.end();
      // The server stops while the client still holds the call open: end it as EventStoreDB's host does, with
      // an error status once the appends in flight are answered. An OK status would end only the call's
      // response side; the client, whose request side stays open, would then wait for it for good (its
      // `dispose()` waits for every call it holds to finish).
      gone = true;
      call.emit('error', { code: status.UNAVAILABLE, details: 'Server is shutting down' });
    };

    const shutdown = () => {
      ended = true;
      shuttingDown = true;
      maybeEnd();
    };
    ctx.shutdownHooks.add(shutdown);
    const forget = () => ctx.shutdownHooks.delete(shutdown);
    call.on('close', forget);

    call.on('data', (req: WireBatchAppendReq) => {
      let correlationId = '';
      let batch: PendingBatch | undefined;
      try {
        correlationId = parseEventId(req.correlationId);
        batch = pending.get(correlationId);
        if (!batch) {
          const options = req.options;
          if (!options) throw new BadRequest('The first request of a batch must carry the options');
          batch = {
            stream: requireStreamName(options.stream),
            expected: options.expected,
            events: [],
            size: 0,
            failed: false,
          };
          pending.set(correlationId, batch);
        }
        if (!batch.failed) {
          for (const message of req.events) {
            const event = toProposed(message);
            batch.size += proposedSize(event);
            batch.events.push(event);
          }
          if (batch.size > ctx.maxAppendSize) {
            batch.failed = true;
            batch.events = [];
            send({ correlationId, stream: batch.stream, error: maxAppendSizeDetail(ctx.maxAppendSize) });
          }
        }
      } catch (err) {
        if (!correlationId) {
          // Without a correlation id no answer can be routed: refuse the whole call.
          gone = true;
          call.emit('error', { code: 3, details: (err as Error).message });
          return;
        }
        if (batch && !batch.failed) batch.failed = true;
        send({ correlationId, stream: batch?.stream ?? '', error: unknownDetail((err as Error).message) });
        if (!batch) return;
      }
      if (!req.isFinal || !batch) return;
      pending.delete(correlationId);
      if (batch.failed) return;
      const { stream } = batch;
      inFlight++;
      ctx.store.append(stream, batch.expected, batch.events).then(
        (outcome) => {
          inFlight--;
          noteWriteFailure(ctx, stream, outcome);
          send(resultOf(correlationId, stream, outcome));
          maybeEnd();
        },
        (err: Error) => {
          inFlight--;
          send({ correlationId, stream, error: unknownDetail(err.message) });
          maybeEnd();
        },
      );
    });
    call.on('end', () => {
      ended = true;
      maybeEnd();
    });
    call.on('error', () => {
      gone = true;
    });
    call.on('cancelled', () => {
      gone = true;
    });
  };
}
