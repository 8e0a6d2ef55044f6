"""One module per region of the page, each turning state into DOM: the views read the state
and never change it, and call back into the actions only through the handlers they are given."""
