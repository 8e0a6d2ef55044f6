"""The page's event handlers, one module per area: each turns an event into state changes
and calls to ``api``, then redraws only the views it affected."""
