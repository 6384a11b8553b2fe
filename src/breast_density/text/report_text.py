"""Report text through the three text stages in memory: normalise, translate, label.

The same library calls as the normalize, translate and label stages, for texts that are not in the pipeline:
the `label-text` command and the development-set scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from breast_density.params import Params
from breast_density.text.density_extraction import Options
from breast_density.text.labeling import Decision, class_mapper, decide_report
from breast_density.text.lexicon import Lexicon, default_lexicon
from breast_density.text.normalize import normalize_text
from breast_density.text.screen import screen_text
from breast_density.text.translate import translate_texts


@dataclass(frozen=True)
class TextResult:
    id: str
    text_es: str  # normalised Spanish ('' when the screen rejected the input)
    text_en: str
    decision: Decision


@dataclass
class TextStages:
    params: Params
    lexicon: Lexicon = field(default_factory=default_lexicon)

    @property
    def options(self) -> Options:
        return Options(self.params.label.sides, self.params.label.percent_edition)

    def run(self, items: list[tuple[str, str]]) -> list[TextResult]:
        """(id, raw Spanish text) pairs -> one result per item, in order."""
        norm = self.params.normalize
        screened = [screen_text(text) for _, text in items]
        spanish = [
            "" if reason else normalize_text(text, self.lexicon, max_edit_distance=norm.max_edit_distance,
                                             min_similarity=norm.min_similarity)[0]
            for (_, text), reason in zip(items, screened, strict=True)
        ]  # fmt: skip
        english = translate_texts(spanish, self.params.translate)
        to_class = class_mapper(self.params.class_names, self.params.data.label_map)
        out = []
        for (item_id, _), reason, es, en in zip(items, screened, spanish, english, strict=True):
            if reason:
                decision = Decision(item_id, "", None, "", "", "", reason)
            else:
                row = {"exam_id": item_id, "patient_id": "", "text_es": es, "text_en": en, "given_label": ""}
                decision = decide_report(row, self.params.label.on_disagreement, to_class, self.options)
            out.append(TextResult(item_id, es, en, decision))
        return out
