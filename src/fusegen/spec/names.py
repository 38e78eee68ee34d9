"""Names the model reserves for inputs of its own, beside the spec's inputs.

The data pipeline, the model builder and the objectives all use these names,
so they live here, below all three (`fusegen.models` re-exports them).
"""

#: The presence flag of each input, when inputs may be left out.
PRESENT = "_present"
#: The latent (or noise) input of the decoder, for cvae and cgan.
LATENT = "_latent"
#: The fused representation the condition model passes to the decoder.
FUSED = "_fused"
#: The one model input of an unconditional generator (a spec with no inputs):
#: a column of zeros the pipeline adds, so the objectives' conditions have a
#: batch size. The heads' biases learn what a constant condition would carry.
CONSTANT_INPUT = "_constant"
#: The known-future inputs' steps the condition model passes to the decoder, stacked on channels.
STEPS = "_steps"
#: Each continued output channel's context mean and standard deviation, per window.
CONTEXT_SCALE = "_context_scale"
#: A record's own cells given as conditions (``conditioning.any_column``): their model-space values
#: (numeric columns, then one-hot blocks, zero where hidden) and one 0/1 visibility flag per feature.
RECORD_VALUES = "_record_values"
RECORD_VISIBLE = "_record_visible"
#: Added to the record's categorical logits when sampling: a large negative number rules a label out
#: (imputation never draws a nullable column's missing label for a cell it fills).
RECORD_EXCLUDED = "_record_excluded"
