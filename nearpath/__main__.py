from nearpath.cli import main

raise SystemExit(main())
