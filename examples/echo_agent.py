"""An agent runner that needs no model: it claims agent executions from the daemon and
answers each message by echoing it back, reporting as a real agent would (messages, a tool
call, todos) through StatusBuilder, then completes the execution.

Run it under the daemon, which starts it, restarts it and stops it:

    stigmer-actors serve --runner agents="python3 examples/echo_agent.py"

or on its own against a running daemon (STIGMER_ADDR, else 127.0.0.1:50051):

    python3 examples/echo_agent.py

It needs only the base install (``pip install .``): the client, not the server.
"""

import os
import time

import grpc

from stigmer_actors.client import AGENT, DEFAULT_ADDRESS, StatusBuilder, StigmerClient
from stigmer_actors.wire import agent_enum as enum

STEP = 0.3  # seconds between steps, so `stigmer-actors watch` shows them arrive


def answer(client: StigmerClient, execution) -> None:
    message = execution.spec.message
    with StatusBuilder(client, execution.metadata.id, AGENT) as status:
        status.start()
        status.set_todo("read", "read the message", enum.TODO_IN_PROGRESS)
        status.add_message(f"Reading your message ({len(message.split())} words).")
        time.sleep(STEP)
        status.set_todo("read", "read the message", enum.TODO_COMPLETED)
        status.set_todo("reply", "write the reply", enum.TODO_IN_PROGRESS)
        status.set_tool_call("echo-1", name="echo", status=enum.TOOL_CALL_RUNNING)
        time.sleep(STEP)
        status.set_tool_call("echo-1", status=enum.TOOL_CALL_COMPLETED, result=message)
        status.add_message(f"You said: {message}")
        status.set_todo("reply", "write the reply", enum.TODO_COMPLETED)
        status.complete()  # leaving the block delivers the last state


def main() -> None:
    address = os.environ.get("STIGMER_ADDR", DEFAULT_ADDRESS)  # the daemon sets it
    name = os.environ.get("STIGMER_RUNNER_NAME", "echo-agent")
    with StigmerClient(address) as client:
        print(f"echo agent {name!r} claiming agent executions from {address}", flush=True)
        while True:
            try:
                for execution in client.claim(AGENT, name):
                    print(f"answering {execution.metadata.id}", flush=True)
                    answer(client, execution)
            except grpc.RpcError as error:  # the daemon restarted or is not up yet: retry
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(1)


if __name__ == "__main__":
    main()
