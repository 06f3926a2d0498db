import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { Empty } from '@eventstore/db-client/generated/shared_pb';
import {
  DeleteReq,
  DeleteResp,
  TombstoneReq,
  TombstoneResp,
} from '@eventstore/db-client/generated/streams_pb';
import {
  BadRequest,
  streamDeletedError,
  toServiceError,
  unavailableError,
  wrongExpectedVersionError,
} from '../errors';
import { WriteOutcome } from '../storage/types';
import { ServerContext } from './context';
import { parseExpected, parseStreamName } from './request';

type DeleteLikeResp = DeleteResp | TombstoneResp;

async function run<Resp extends DeleteLikeResp>(
  ctx: ServerContext,
  options: DeleteReq.Options | TombstoneReq.Options | undefined,
  tombstone: boolean,
  build: (outcome: Extract<WriteOutcome, { kind: 'ok' }>) => Resp,
): Promise<Resp> {
  if (!options) throw new BadRequest('Delete options are required');
  const stream = parseStreamName(options.getStreamIdentifier());
  const expected = parseExpected(options, () => options.getRevision());
  const outcome = await ctx.store.delete(stream, expected, tombstone);
  switch (outcome.kind) {
    case 'ok':
      return build(outcome);
    case 'wrong_expected_version':
      throw wrongExpectedVersionError(stream, expected, outcome.currentRevision);
    case 'stream_deleted':
      throw streamDeletedError(stream);
    case 'failed':
      throw unavailableError(outcome.message);
  }
}

/** Streams.Delete: soft delete (the stream reads as not found; writing it again continues its revisions). */
export function deleteHandler(ctx: ServerContext) {
  return (call: ServerUnaryCall<DeleteReq, DeleteResp>, callback: sendUnaryData<DeleteResp>): void => {
    run(ctx, call.request.getOptions(), false, (outcome) => {
      const resp = new DeleteResp();
      if (outcome.position) {
        resp.setPosition(
          new DeleteResp.Position()
            .setCommitPosition(String(outcome.position.commit))
            .setPreparePosition(String(outcome.position.prepare)),
        );
      } else {
        resp.setNoPosition(new Empty());
      }
      return resp;
    }).then(
      (resp) => callback(null, resp),
      (err) => callback(toServiceError(err)),
    );
  };
}

/** Streams.Tombstone: hard delete; the stream can never be read or written again. */
export function tombstoneHandler(ctx: ServerContext) {
  return (
    call: ServerUnaryCall<TombstoneReq, TombstoneResp>,
    callback: sendUnaryData<TombstoneResp>,
  ): void => {
    run(ctx, call.request.getOptions(), true, (outcome) => {
      const resp = new TombstoneResp();
      if (outcome.position) {
        resp.setPosition(
          new TombstoneResp.Position()
            .setCommitPosition(String(outcome.position.commit))
            .setPreparePosition(String(outcome.position.prepare)),
        );
      } else {
        resp.setNoPosition(new Empty());
      }
      return resp;
    }).then(
      (resp) => callback(null, resp),
      (err) => callback(toServiceError(err)),
    );
  };
}
