"""The task registry and the prompt format, with SmolLM2's tokenizer."""

import copy
import os

import pytest
from conftest import DESIGN_TASKS

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from brainkit import tasks  # noqa: E402
from brainkit.errors import BrainkitError  # noqa: E402
from brainkit.models.llm import load_tokenizer  # noqa: E402
from brainkit.tasks import TASKS, build_prompt, free_prompt, get_task  # noqa: E402

DESIGN = DESIGN_TASKS  # defined once, in conftest.py
ALL = [(task_id, i) for task_id, task in TASKS.items() for i in range(len(task.questions))]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_the_nine_tasks_of_the_design():
    assert tuple(TASKS) == tuple(DESIGN)
    for task_id, (answers, window_s, offset_s) in DESIGN.items():
        task = get_task(task_id)
        assert (task.id, task.answers, task.window_s, task.offset_s) == (
            task_id, answers, window_s, offset_s)


def test_every_task_is_fully_described():
    for task in TASKS.values():
        assert len(set(task.questions)) == len(task.questions) >= 3
        assert set(task.answer_texts) == set(task.class_descriptions) == set(task.answers)
        assert len(set(task.answer_texts.values())) == len(task.answers)
        assert task.caption.endswith(".") and ". " not in task.caption  # one sentence
    assert {t.id for t in TASKS.values() if t.event_locked} == {
        "motor_imagery", "p300", "n170", "ssvep", "auditory_oddball"}


def test_tasks_are_immutable():
    task = get_task("eyes")
    with pytest.raises(AttributeError):
        task.window_s = 2.0
    with pytest.raises(TypeError):
        task.answer_texts["open"] = "wide awake"


def test_unknown_task_names_the_valid_ids():
    with pytest.raises(BrainkitError, match="unknown task 'sleep'.*sleep_stage.*auditory_oddball"):
        get_task("sleep")
    assert get_task(TASKS["p300"]) is TASKS["p300"]


@pytest.mark.parametrize("task_id", list(TASKS))
def test_answers_tokenize_to_distinct_replies(tokenizer, task_id):
    parts = build_prompt(tokenizer, task_id, n_soft_tokens=4)
    assert parts.answers == TASKS[task_id].answers
    assert len(set(parts.option_ids)) == len(parts.option_ids)
    for option, answer in zip(parts.option_ids, parts.answers):
        assert option[-1] == tokenizer.eos_token_id  # the end-of-turn token closes each reply
        assert tokenizer.decode(option[:-1]) == TASKS[task_id].answer_texts[answer]
        assert parts.answer_ids(answer) == option


@pytest.mark.parametrize("task_id, question_index", ALL)
def test_prompt_round_trip_holds_question_and_answers(tokenizer, task_id, question_index):
    task = TASKS[task_id]
    parts = build_prompt(tokenizer, task, question_index, n_soft_tokens=8)
    prefix = tokenizer.decode(parts.prefix_ids)
    suffix = tokenizer.decode(parts.suffix_ids)
    assert prefix.startswith("<|im_start|>system\n" + tasks.SYSTEM_PROMPT)
    # the question and the allowed answers come before the soft tokens (a prefix shared by all
    # windows of a task); after them only the end of the user turn and the assistant header
    assert task.questions[question_index] in prefix and task.questions[question_index] not in suffix
    for answer in task.answers:
        assert task.answer_texts[answer] in prefix
    assert suffix.endswith("<|im_start|>assistant\n")  # the reply comes next
    assert len(parts.suffix_ids) <= 8
    assert parts.text.replace(tasks.SOFT_TOKENS_MARK, "") == prefix + suffix


def test_reply_tokens_are_those_of_the_whole_chat(tokenizer):
    """Tokenizing suffix and reply apart gives the same ids as tokenizing them together."""
    parts = build_prompt(tokenizer, "sleep_stage", 2, n_soft_tokens=3)
    for answer, option in zip(parts.answers, parts.option_ids):
        together = tasks._ids(tokenizer, tokenizer.decode(parts.suffix_ids + option))
        assert together == parts.suffix_ids + option, answer


def test_prompt_parts_positions(tokenizer):
    parts = build_prompt(tokenizer, "ssvep", n_soft_tokens=16)
    assert parts.soft_slice == slice(len(parts.prefix_ids), len(parts.prefix_ids) + 16)
    assert parts.n_prompt_tokens == len(parts.prefix_ids) + 16 + len(parts.suffix_ids)
    with pytest.raises(BrainkitError, match="not one of 20hz, 30hz"):
        parts.answer_ids("40hz")


def test_bad_prompt_arguments_are_refused(tokenizer):
    with pytest.raises(BrainkitError, match="question_index must be in 0..3"):
        build_prompt(tokenizer, "eyes", 4, n_soft_tokens=4)
    with pytest.raises(BrainkitError, match="n_soft_tokens must be a positive integer"):
        build_prompt(tokenizer, "eyes", n_soft_tokens=0)
    with pytest.raises(BrainkitError, match="unknown task"):
        build_prompt(tokenizer, "blink", n_soft_tokens=4)


def test_free_prompt(tokenizer):
    parts = free_prompt(tokenizer, "  What   is this person doing? ", n_soft_tokens=5)
    prefix = tokenizer.decode(parts.prefix_ids)
    assert "What is this person doing?" in prefix and "Answer with one of" not in prefix
    assert parts.answers == () and parts.option_ids == ()
    assert parts.suffix_ids == build_prompt(tokenizer, "eyes", n_soft_tokens=5).suffix_ids
    with pytest.raises(BrainkitError, match="question is empty"):
        free_prompt(tokenizer, "   ", n_soft_tokens=5)


def test_tokenizer_without_chat_template_gets_a_plain_one(tokenizer):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    parts = build_prompt(plain, "motor_imagery", n_soft_tokens=4)
    assert "Which hand" in plain.decode(parts.prefix_ids)
    assert len(set(parts.option_ids)) == 2
    assert all(option[-1] == plain.eos_token_id for option in parts.option_ids)
