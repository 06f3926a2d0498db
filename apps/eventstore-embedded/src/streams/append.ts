import type { sendUnaryData, ServerReadableStream } from '@grpc/grpc-js';
import { Empty } from '@eventstore/db-client/generated/shared_pb';
import { AppendResp } from '@eventstore/db-client/generated/streams_pb';
import {
  BadRequest,
  maxAppendSizeExceededError,
  streamDeletedError,
  toServiceError,
  unavailableError,
} from '../errors';
import { ExpectedRevision, ProposedEvent, WriteOutcome } from '../storage/types';
import { ServerContext } from './context';
import { WireAppendReq } from './decode';
import { proposedSize, requireStreamName, toProposed } from './request';
import { noteWriteFailure } from './write-failures';

function wrongExpectedVersionResp(expected: ExpectedRevision, currentRevision: number): AppendResp {
  const wev = new AppendResp.WrongExpectedVersion();
  if (currentRevision >= 0) wev.setCurrentRevision(String(currentRevision));
  else wev.setCurrentNoStream(new Empty());
  switch (expected.kind) {
    case 'any':
      wev.setExpectedAny(new Empty());
      break;
    case 'no_stream':
      wev.setExpectedNoStream(new Empty());
      break;
    case 'stream_exists':
      wev.setExpectedStreamExists(new Empty());
      break;
    case 'revision':
      wev.setExpectedRevision(String(expected.revision));
      break;
  }
  return new AppendResp().setWrongExpectedVersion(wev);
}

function respond(stream: string, outcome: WriteOutcome, callback: sendUnaryData<AppendResp>): void {
  switch (outcome.kind) {
    case 'ok': {
      const success = new AppendResp.Success();
      if (outcome.currentRevision >= 0) success.setCurrentRevision(String(outcome.currentRevision));
      else success.setNoStream(new Empty());
      if (outcome.position) {
        const position = new AppendResp.Position()
          .setCommitPosition(String(outcome.position.commit))
          .setPreparePosition(String(outcome.position.prepare));
        success.setPosition(position);
      } else {
        success.setNoPosition(new Empty());
      }
      return callback(null, new AppendResp().setSuccess(success));
    }
    case 'wrong_expected_version':
      return callback(null, wrongExpectedVersionResp(outcome.expected, outcome.currentRevision));
    case 'stream_deleted':
      return callback(streamDeletedError(stream));
    case 'failed':
      return callback(unavailableError(outcome.message));
  }
}

/**
 * Streams.Append (client streaming): first message carries the options, then one message per event.
 * The append is queued for the next group commit when the client half-closes.
 */
export function appendHandler(ctx: ServerContext) {
  // Requests arrive decoded by decodeAppendReq (server.ts registers it as the deserializer).
  return (
    call: ServerReadableStream<WireAppendReq, AppendResp>,
    callback: sendUnaryData<AppendResp>,
  ): void => {
    let stream: string | undefined;
    let expected: ExpectedRevision = { kind: 'any' };
    const events: ProposedEvent[] = [];
    let size = 0;
    let answered = false;
    const fail = (err: unknown) => {
      if (answered) return;
      answered = true;
      callback(toServiceError(err));
    };

    call.on('data', (req: WireAppendReq) => {
      if (answered) return;
      try {
        if (req.options) {
          if (stream !== undefined) throw new BadRequest('Options were sent twice');
          stream = requireStreamName(req.options.stream);
          expected = req.options.expected;
        } else if (req.proposed) {
          if (stream === undefined) throw new BadRequest('The first message must carry the options');
          const event = toProposed(req.proposed);
          size += proposedSize(event);
          if (size > ctx.maxAppendSize) return fail(maxAppendSizeExceededError(ctx.maxAppendSize));
          events.push(event);
        } else {
          throw new BadRequest('Empty append request');
        }
      } catch (err) {
        fail(err);
      }
    });
    const abandon = () => {
      // The client went away mid-append: nothing was queued, nothing is written.
      answered = true;
    };
    call.on('error', abandon);
    call.on('cancelled', abandon);
    call.on('end', () => {
      // Half-close normally means the append is complete, but a client whose connection dropped also ends
      // the readable side, with the cancellation reported right after: look again one turn later.
      setImmediate(() => {
        if (answered || call.cancelled) return;
        if (stream === undefined) return fail(new BadRequest('No append options were sent'));
        const name = stream;
        ctx.store.append(name, expected, events).then(
          (outcome) => {
            if (answered) return;
            answered = true;
            noteWriteFailure(ctx, name, outcome);
            respond(name, outcome, callback);
          },
          (err) => fail(err),
        );
      });
    });
  };
}
