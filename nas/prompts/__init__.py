"""Prompt templates (versioned files with named slots) and the parsers of their answers."""

from nas.prompts.parsers import (
    BlockAnswer,
    PromptParseError,
    parse_block_answer,
    parse_list,
    parse_ranking,
    parse_tips,
    parse_yes_no,
)
from nas.prompts.templates import (
    PromptTemplate,
    TemplateError,
    list_prompts,
    load_prompt,
    parse_template,
)

__all__ = [
    "BlockAnswer",
    "PromptParseError",
    "PromptTemplate",
    "TemplateError",
    "list_prompts",
    "load_prompt",
    "parse_block_answer",
    "parse_list",
    "parse_ranking",
    "parse_template",
    "parse_tips",
    "parse_yes_no",
]
