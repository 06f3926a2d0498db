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
import { noteWriteFailure } from './write-failures';

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
  noteWriteFailure(ctx, stream, outcome);
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

interface PositionMessage<P> {
  setCommitPosition(value: string): P;
  setPreparePosition(value: string): P;
}

interface DeleteLikeRespClass<Resp, P extends PositionMessage<P>> {
  new (): Resp & { setPosition(value: P): Resp; setNoPosition(value: Empty): Resp };
  Position: new () => P;
}

/** Delete and Tombstone answer the same way: the `$all` position of the deletion, or none. */
function deleteLikeHandler<
  Req extends DeleteReq | TombstoneReq,
  Resp extends DeleteLikeResp,
  P extends PositionMessage<P>,
>(ctx: ServerContext, Resp: DeleteLikeRespClass<Resp, P>, tombstone: boolean) {
  return (call: ServerUnaryCall<Req, Resp>, callback: sendUnaryData<Resp>): void => {
    run(ctx, call.request.getOptions(), tombstone, (outcome) => {
      const resp = new Resp();
      if (outcome.position) {
        resp.setPosition(
          new Resp.Position()
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

/** Streams.Delete: soft delete (the stream reads as not found; writing it again continues its revisions). */
export function deleteHandler(ctx: ServerContext) {
  return deleteLikeHandler<DeleteReq, DeleteResp, DeleteResp.Position>(ctx, DeleteResp, false);
}

/** Streams.Tombstone: hard delete; the stream can never be read or written again. */
export function tombstoneHandler(ctx: ServerContext) {
  return deleteLikeHandler<TombstoneReq, TombstoneResp, TombstoneResp.Position>(ctx, TombstoneResp, true);
}
