"""An aiosmtpd handler for the end-to-end suite: prints each message as aiosmtpd's
Debugging handler does and, before it answers `250`, writes it to a file in a folder, so
a test that got a client's answer can look at the folder without waiting. With a gate
file, it answers DATA only once that file exists, so a test can show that Kinto answered
while an email was still on its way; while it holds a message it has written
`<GATE_FILE>.held`, so a test can wait until a send is in flight.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c sink.Files FOLDER [GATE_FILE]
"""
import asyncio
import itertools
import os
import sys

from aiosmtpd.handlers import Debugging


class Files(Debugging):
    def __init__(self, folder, gate=None):
        super().__init__(sys.stdout)
        self.folder = folder
        self.gate = gate
        self.numbers = itertools.count(1)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) not in (1, 2):
            parser.error("sink.Files takes a folder and, optionally, a gate file")
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        if self.gate and not os.path.exists(self.gate):
            open(self.gate + ".held", "w").close()
        while self.gate and not os.path.exists(self.gate):
            await asyncio.sleep(0.01)
        answer = await super().handle_DATA(server, session, envelope)
        path = os.path.join(self.folder, f"{next(self.numbers):06}.eml")
        with open(path + ".part", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".part", path)
        return answer
