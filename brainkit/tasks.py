"""The tasks brainkit decodes, and the one place that knows the prompt format.

Tasks are data: :data:`TASKS` maps each stable task id to a :class:`Task` (caption, question
templates, allowed answers, window). Adding a task means adding one entry here.

The prompt
----------
Every question reaches the language model as one chat, rendered by the tokenizer's own chat
template::

    system     You read brain signals. ... (SYSTEM_PROMPT)
    user       <question>
               Answer with one of: <answer text>, <answer text>.
               Brain signals:
               <n_soft_tokens soft EEG tokens>
    assistant  <answer text><end of turn>

:func:`build_prompt` cuts the chat at the soft tokens and returns token ids: ``prefix_ids`` (up to
the soft tokens: system message, question, allowed answers), ``suffix_ids`` (after them: the end
of the user turn and the assistant header, a handful of tokens) and, per
allowed answer, ``option_ids`` (the assistant's reply: the answer's words and the end-of-turn
token). The decoder embeds prefix and suffix with the language model's input embeddings and puts
its soft tokens between them (``inputs_embeds``)::

    [embed(prefix_ids)] [soft tokens] [embed(suffix_ids)] [embed(option_ids)]

Training (teacher forcing) appends the true answer's ``option_ids`` and puts the loss on those
tokens only.

Option scoring (inference) gives each allowed answer ``a`` with ids ``o_1..o_m`` the
log-likelihood::

    log p(a) = sum_t log p(o_t | prefix, soft, suffix, o_1..o_{t-1})

The question comes before the soft tokens so that the prefix, which depends only on the task
and question, is computed once and its key/value cache reused for every window; only the soft
tokens, the short suffix and the options pass through the language model per window. The
options share the cache of prefix, soft tokens and suffix, which are scored together as one batch. A softmax over the options' log-likelihoods (with
a temperature fitted on validation data) gives the probabilities. The end-of-turn token in every
option means no option is a prefix of another, and all options of a task tokenize to distinct
sequences (checked here).

Taught tasks (``brainkit teach``) are :class:`Task` objects too, made by :func:`taught_task`;
they are known to :func:`get_task` only inside :func:`taught_tasks` (never globally: each app
user has their own).

The outside world sees answer ids (``"REM"``, ``"left_hand"``); the language model reads and says
the answer texts (``"REM sleep"``, ``"left hand"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType

from brainkit.errors import BrainkitError

SYSTEM_PROMPT = (
    "You read brain signals. The user shows you a segment of an EEG or MEG recording as "
    "brain-signal tokens and asks about it. Answer briefly."
)
#: Where the soft tokens go; only ever used to cut the rendered chat, never tokenized.
SOFT_TOKENS_MARK = "<|brainkit_soft_tokens|>"

#: Used only for a tokenizer without a chat template (a base language model).
_FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}:\n{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:\n{% endif %}"
)


@dataclass(frozen=True)
class Task:
    """One decoding task.

    Attributes
    ----------
    id : str
        Stable identifier (evaluation manifests use it).
    caption : str
        One sentence on the task and its recording context; the language model's embedding of it
        steers query routing.
    questions : tuple of str
        Paraphrased question templates (at least 3); training samples them.
    answers : tuple of str
        Allowed answer ids, in a fixed order (probability columns follow it).
    answer_texts : Mapping of str to str
        The words the language model says for each answer id.
    class_descriptions : Mapping of str to str
        What each answer means, for people.
    window_s : float
        Window length in seconds.
    offset_s : float
        Window start relative to the event, in seconds (event-locked tasks only).
    event_locked : bool
        Whether windows start at events (stimulus or cue onsets) rather than tile the recording.
    """

    id: str
    caption: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    answer_texts: Mapping[str, str]
    class_descriptions: Mapping[str, str]
    window_s: float
    offset_s: float = 0.0
    event_locked: bool = False

    def __post_init__(self):
        for name in ("answer_texts", "class_descriptions"):
            mapping = getattr(self, name)
            if set(mapping) != set(self.answers):
                raise ValueError(f"task {self.id}: {name} must cover exactly {self.answers}")
            object.__setattr__(self, name, MappingProxyType(dict(mapping)))
        if len(self.questions) < 3:
            raise ValueError(f"task {self.id}: give at least 3 question templates")


@dataclass(frozen=True)
class PromptParts:
    """A prompt cut at the soft tokens, as token ids.

    Attributes
    ----------
    prefix_ids : tuple of int
        Tokens before the soft tokens (system message, question, allowed answers).
    suffix_ids : tuple of int
        Tokens after them: end of the user turn, assistant header.
    n_soft_tokens : int
        How many soft tokens go between prefix and suffix.
    answers : tuple of str
        Answer ids, aligned with ``option_ids`` (empty for a free question).
    option_ids : tuple of tuple of int
        Per answer, the assistant's reply: its answer text and the end-of-turn token.
    text : str
        The rendered chat up to the reply, with :data:`SOFT_TOKENS_MARK` at the soft tokens.
    """

    prefix_ids: tuple[int, ...]
    suffix_ids: tuple[int, ...]
    n_soft_tokens: int
    answers: tuple[str, ...] = ()
    option_ids: tuple[tuple[int, ...], ...] = ()
    text: str = field(default="", repr=False)

    @property
    def soft_slice(self) -> slice:
        """Positions of the soft tokens in the prompt sequence."""
        return slice(len(self.prefix_ids), len(self.prefix_ids) + self.n_soft_tokens)

    @property
    def n_prompt_tokens(self) -> int:
        """Length of prefix + soft tokens + suffix."""
        return len(self.prefix_ids) + self.n_soft_tokens + len(self.suffix_ids)

    def answer_ids(self, answer: str) -> tuple[int, ...]:
        """The reply ids of one answer id (the training target)."""
        if answer not in self.answers:
            raise BrainkitError(f"answer {answer!r} is not one of {', '.join(self.answers)}")
        return self.option_ids[self.answers.index(answer)]


def _task(id, caption, questions, answers, descriptions, window_s, offset_s=0.0,
          event_locked=False):
    """A Task from {answer id: answer text} and {answer id: description}."""
    return Task(
        id=id, caption=caption, questions=tuple(questions), answers=tuple(answers),
        answer_texts=answers, class_descriptions=descriptions, window_s=window_s,
        offset_s=offset_s, event_locked=event_locked,
    )


TASKS: Mapping[str, Task] = MappingProxyType({task.id: task for task in (
    _task(
        "workload",
        "Mental workload: resting-state EEG compared with EEG recorded while the person does "
        "mental arithmetic such as serial subtraction.",
        ("Is the mental workload low or high?",
         "Is this person resting or doing mental arithmetic: is their workload low or high?",
         "How hard is the brain working in this segment, low or high workload?",
         "Judge the cognitive load in this recording: low or high?"),
        {"low": "low workload", "high": "high workload"},
        {"low": "at rest, no task", "high": "doing mental arithmetic (serial subtraction)"},
        window_s=4.0,
    ),
    _task(
        "eyes",
        "Eyes open or closed: resting EEG recorded while the person keeps the eyes open or "
        "closed, where closing them raises occipital alpha rhythm.",
        ("Are the eyes open or closed?",
         "Is this resting recording taken with eyes open or with eyes closed?",
         "Judging from the alpha rhythm, are the person's eyes open or closed?",
         "Were the eyes open or shut during this segment?"),
        {"open": "eyes open", "closed": "eyes closed"},
        {"open": "resting with eyes open", "closed": "resting with eyes closed"},
        window_s=4.0,
    ),
    _task(
        "sleep_stage",
        "Sleep staging: a 30-second epoch of overnight sleep EEG scored as wake, N1, N2, N3 or "
        "REM sleep by AASM rules.",
        ("Which sleep stage is this epoch?",
         "Score this 30-second sleep epoch: wake, N1, N2, N3 or REM?",
         "What stage of sleep is the person in?",
         "Classify the sleep stage of this segment."),
        {"W": "wake", "N1": "N1 sleep", "N2": "N2 sleep", "N3": "N3 deep sleep",
         "REM": "REM sleep"},
        {"W": "awake", "N1": "light sleep, stage 1",
         "N2": "stage 2 sleep, spindles and K-complexes",
         "N3": "deep slow-wave sleep (stages 3 and 4)", "REM": "rapid-eye-movement sleep"},
        window_s=30.0,
    ),
    _task(
        "motor_imagery",
        "Motor imagery: EEG over the motor cortex in the seconds after a cue, while the person "
        "imagines opening and closing the left or the right fist.",
        ("Which hand is the person imagining moving?",
         "Is this motor imagery of the left hand or the right hand?",
         "After the cue, did the person imagine moving the left or the right fist?",
         "Which side's hand movement is being imagined?"),
        {"left_hand": "left hand", "right_hand": "right hand"},
        {"left_hand": "imagined movement of the left fist",
         "right_hand": "imagined movement of the right fist"},
        window_s=4.0, offset_s=0.0, event_locked=True,
    ),
    _task(
        "seizure",
        "Epileptic seizure detection: scalp or intracranial EEG that is either normal or shows "
        "ictal seizure activity.",
        ("Does this segment show a seizure?",
         "Is this brain activity normal or a seizure?",
         "Is there ictal activity in this EEG, or is it normal?",
         "Classify this segment as normal or seizure."),
        {"normal": "normal", "seizure": "seizure"},
        {"normal": "no seizure (healthy or between seizures)", "seizure": "during a seizure"},
        window_s=4.0,
    ),
    _task(
        "p300",
        "Visual P300: the EEG response in the second after a visual stimulus that is either the "
        "rare target the person attends to or a frequent non-target.",
        ("Was this stimulus a target or a non-target?",
         "Does this response to a stimulus show a P300, target or non-target?",
         "Did the person see the attended target here, or a non-target?",
         "Classify the evoked response: target or non-target?"),
        {"target": "target", "nontarget": "non-target"},
        {"target": "the rare attended stimulus", "nontarget": "a frequent ignored stimulus"},
        window_s=1.0, offset_s=-0.1, event_locked=True,
    ),
    _task(
        "n170",
        "Visual N170: the EEG response in the second after a picture of a face or of a house, "
        "faces evoking a larger N170 over the temporal lobes.",
        ("Was the person looking at a face or a house?",
         "Did this evoked response follow a picture of a face or of a house?",
         "Face or house: which picture was shown?",
         "Which kind of image caused this response, a face or a house?"),
        {"face": "face", "house": "house"},
        {"face": "a picture of a face", "house": "a picture of a house"},
        window_s=1.0, offset_s=-0.1, event_locked=True,
    ),
    _task(
        "ssvep",
        "Steady-state visual evoked potentials: EEG while the person watches a stimulus "
        "flickering at 20 Hz or at 30 Hz, which drives brain rhythms at that frequency.",
        ("At what frequency was the stimulus flickering?",
         "Was the flicker 20 Hz or 30 Hz?",
         "Which flicker frequency does this brain response follow, 20 or 30 Hz?",
         "Identify the frequency of the visual flicker."),
        {"20hz": "20 Hz", "30hz": "30 Hz"},
        {"20hz": "stimulus flickering at 20 Hz", "30hz": "stimulus flickering at 30 Hz"},
        window_s=2.0, offset_s=0.5, event_locked=True,
    ),
    _task(
        "auditory_oddball",
        "Auditory oddball: the EEG response in the second after a tone that is either a rare "
        "deviant or the frequent standard tone.",
        ("Was this tone a deviant or a standard?",
         "Did the person hear the rare deviant tone or the standard tone?",
         "Is this the response to an oddball sound or to the usual one?",
         "Classify the sound that evoked this response: deviant or standard?"),
        {"deviant": "deviant tone", "standard": "standard tone"},
        {"deviant": "the rare odd tone", "standard": "the frequent usual tone"},
        window_s=1.0, offset_s=-0.1, event_locked=True,
    ),
)})

TASK_IDS: tuple[str, ...] = tuple(TASKS)

#: Tasks taught by the user (``brainkit teach``, the Teach page), visible only inside
#: :func:`taught_tasks` (one command, one app user's script run): never global.
_TAUGHT: ContextVar[Mapping[str, Task]] = ContextVar("brainkit_taught_tasks", default=MappingProxyType({}))


@contextmanager
def taught_tasks(tasks: Iterable[Task]):
    """Make taught tasks known to :func:`get_task` and :func:`task_ids` inside the block.

    Parameters
    ----------
    tasks : iterable of Task
        Added to those already active (an id of a built-in task is refused).
    """
    token = _TAUGHT.set(_merged(tasks))
    try:
        yield
    finally:
        _TAUGHT.reset(token)


def set_taught_tasks(tasks: Iterable[Task]) -> None:
    """Make exactly ``tasks`` the taught tasks of the current context (an app script run, which
    sets them at its start from its user's session)."""
    _TAUGHT.set(MappingProxyType({}))
    _TAUGHT.set(_merged(tasks))


def _merged(tasks) -> Mapping[str, Task]:
    merged = dict(_TAUGHT.get())
    for task in tasks:
        if task.id in TASKS:
            raise BrainkitError(f"task {task.id!r} is a built-in task: a taught task needs another id")
        merged[task.id] = task
    return MappingProxyType(merged)


#: what a taught task's id may be made of
TASK_ID_PATTERN = r"[a-z][a-z0-9_]*"


def taught_task(task_id: str, answers, window_s: float, caption: str | None = None,
                event_locked: bool = False, offset_s: float = 0.0) -> Task:
    """A new task from its id, its answers (the labels) and its window length.

    Parameters
    ----------
    task_id : str
        Lower-case letters, digits and ``_`` (starting with a letter), not a built-in id.
    answers : sequence of str
        Two or more distinct labels; the language model says them with ``_`` read as a space.
    window_s : float
        Window length in seconds.
    caption : str, optional
        One sentence on the task (default: one naming the answers).

    Raises
    ------
    BrainkitError
        For a bad id, a built-in id, fewer than two answers or a non-positive window.
    """
    import re

    task_id = str(task_id).strip()
    if not re.fullmatch(TASK_ID_PATTERN, task_id):
        raise BrainkitError(f"task id {task_id!r} must be lower-case letters, digits and _ "
                            "(starting with a letter), e.g. eyes_muse")
    if task_id in TASKS:
        raise BrainkitError(f"task id {task_id!r} is a built-in task: choose another id, e.g. {task_id}_mine")
    answers = tuple(dict.fromkeys(str(a).strip() for a in answers))
    if len(answers) < 2 or not all(answers):
        raise BrainkitError(f"a task needs two or more different labels, not {list(answers)}")
    if not window_s or float(window_s) <= 0:
        raise BrainkitError(f"window length must be positive, not {window_s}")
    texts = {a: a.replace("_", " ") for a in answers}
    caption = " ".join(str(caption or "").split()) or (
        f"A task taught from labelled recordings: {' or '.join(texts.values())}.")
    return _task(task_id, caption,
                 (f"Which is this segment: {', '.join(texts.values())}?",
                  f"{caption} Which answer fits this segment?",
                  "Classify this segment of brain signals."),
                 texts, {a: f"labelled {a} by the user" for a in answers}, float(window_s),
                 offset_s=float(offset_s), event_locked=bool(event_locked))


def task_ids() -> tuple[str, ...]:
    """The built-in task ids, then those of the active taught tasks (:func:`taught_tasks`)."""
    return TASK_IDS + tuple(_TAUGHT.get())


def get_task(task: str | Task) -> Task:
    """The task with this id, built in or taught (a :class:`Task` is returned as it is).

    Raises
    ------
    BrainkitError
        If the id is unknown; the message lists the valid ids.
    """
    if isinstance(task, Task):
        return task
    if task in TASKS:
        return TASKS[task]
    taught = _TAUGHT.get()
    if task not in taught:
        raise BrainkitError(f"unknown task {task!r}: choose one of {', '.join(task_ids())}")
    return taught[task]


def build_prompt(tokenizer, task: str | Task, question_index: int = 0, *,
                 n_soft_tokens: int) -> PromptParts:
    """The prompt for one task question, cut at the soft tokens, with every answer's reply ids.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        The language model's tokenizer; its chat template renders the prompt.
    task : str or Task
        Task id or task.
    question_index : int
        Which of ``task.questions`` to ask (0 in inference; sampled in training).
    n_soft_tokens : int
        Number of soft EEG tokens between prefix and suffix.

    Returns
    -------
    PromptParts
        ``option_ids`` aligned with ``task.answers``.
    """
    task = get_task(task)
    if not 0 <= question_index < len(task.questions):
        raise BrainkitError(f"question_index must be in 0..{len(task.questions) - 1} for task "
                            f"{task.id}, not {question_index}")
    options = ", ".join(task.answer_texts[a] for a in task.answers)
    question = f"{task.questions[question_index]}\nAnswer with one of: {options}."
    parts = _cut(tokenizer, question, n_soft_tokens)

    messages = _messages(question)
    option_ids = tuple(_reply_ids(tokenizer, messages, parts.text, task.answer_texts[a])
                       for a in task.answers)
    if len(set(option_ids)) != len(option_ids):
        raise BrainkitError(f"the answers of task {task.id} are not distinct for this tokenizer")
    return PromptParts(parts.prefix_ids, parts.suffix_ids, n_soft_tokens, task.answers,
                       option_ids, parts.text)


def free_prompt(tokenizer, question: str, *, n_soft_tokens: int) -> PromptParts:
    """The prompt for an open question (free-text generation), cut at the soft tokens."""
    question = " ".join(str(question).split())
    if not question:
        raise BrainkitError("the question is empty: ask something about the recording")
    return _cut(tokenizer, question, n_soft_tokens)


# --------------------------------------------------------------------------------------------
# The chat, rendered and cut


def _messages(question: str) -> list[dict]:
    user = f"{question}\nBrain signals:\n{SOFT_TOKENS_MARK}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def _render(tokenizer, messages, add_generation_prompt: bool) -> str:
    template = None if tokenizer.chat_template else _FALLBACK_CHAT_TEMPLATE
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def _ids(tokenizer, text: str) -> tuple[int, ...]:
    # The rendered chat already holds every special token the template wants.
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])


def _cut(tokenizer, question: str, n_soft_tokens: int) -> PromptParts:
    if int(n_soft_tokens) != n_soft_tokens or n_soft_tokens < 1:
        raise BrainkitError(f"n_soft_tokens must be a positive integer, not {n_soft_tokens!r}")
    text = _render(tokenizer, _messages(question), add_generation_prompt=True)
    before, after = text.split(SOFT_TOKENS_MARK, 1)  # the mark ends the user message
    return PromptParts(_ids(tokenizer, before), _ids(tokenizer, after), int(n_soft_tokens),
                       text=text)


def _reply_ids(tokenizer, messages, prompt_text: str, reply: str) -> tuple[int, ...]:
    """Token ids of the assistant's reply, up to and including its end-of-turn token."""
    chat = _render(tokenizer, [*messages, {"role": "assistant", "content": reply}],
                   add_generation_prompt=False)
    if not chat.startswith(prompt_text):
        raise BrainkitError("this tokenizer's chat template does not continue the prompt with "
                            "the reply: pass a causal LM with a standard chat template")
    # Drop what follows the end-of-turn token (a newline between turns).
    return _ids(tokenizer, chat[len(prompt_text):].rstrip())
