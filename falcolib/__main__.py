from falcolib.cli import main

raise SystemExit(main())
