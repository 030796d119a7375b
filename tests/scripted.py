"""A scripted generator: answers from a fixed text or a function of the conversation, and records
every request, so reward and guard tests need no model."""

from advfc.generation import Completion


class ScriptedGenerator:
    def __init__(self, text, finish_reason="stop"):
        self.reply = text if callable(text) else (lambda conversation: text)
        self.finish_reason = finish_reason
        self.asked = []

    def generate(self, conversations, params):
        self.asked.append((conversations, params))
        return [[Completion(self.reply(c), 10, 5, self.finish_reason)] * params.n for c in conversations]

    def describe(self):
        return {"backend": "scripted"}
