"""The teaching rooms: the lecture's forms and notation, and the views built on them.

`notation` holds the lecture's symbols and number formatting; `explain` writes one gradient as
the chain rule, `sensitivity` ranks weights by |∂C/∂w|, `walkthrough` replays the lecture's
one-neuron network, `exercise` writes question sheets, `classic` is the algorithm slide's delta
rule, and `health` says when gradients vanish or explode. They read the engine; the engine
never reads them.
"""
